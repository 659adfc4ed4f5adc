"""``POST /v1/connections/{id}/uploads``: a CSV export pushed to its connection (issue 8).

Through the real app and the installed CSV connector, on SQLite and PostgreSQL: the file is
stored whole or not at all, a bad row is refused naming file, line, column and reason, the
upload cap is the upload's own (not the API's 1 MB), and the upload is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.app import create_app
from syncbridge.connections import repository
from syncbridge.connector.folders import ROOTS_ENV
from syncbridge.settings import Settings

DEALS = {
    "pattern": ["deals*.csv"],
    "primary_key": ["id"],
    "columns": {
        "id": {"field": "id"},
        "amount": {"field": "amount", "type": "decimal"},
        "closed": {"field": "closed", "type": "date", "format": "%Y-%m-%d"},
    },
}
GOOD = b"id,amount,closed\nd-1,1200.50,2026-03-01\nd-2,80,2026-03-02\n"


def names(folder: Path) -> list[str]:
    """The names in ``folder`` (hidden temporary files included)."""
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


async def _connection(client: httpx.AsyncClient, admin: dict[str, str], root: Path) -> str:
    body = {
        "connector": "csv",
        "name": "crm-exports",
        "settings": {"root": str(root), "streams": {"deals": DEALS}},
    }
    response = await client.post("/v1/connections", json=body, headers=admin)
    assert response.status_code == 201, response.text
    connection_id: str = response.json()["id"]
    return connection_id


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], cid: str, name: str, body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/connections/{cid}/uploads",
        params={"filename": name},
        content=body,
        headers={**headers, "content-type": "text/csv"},
    )


async def test_an_editor_uploads_an_export_and_it_is_stored_whole_and_audited(
    client: httpx.AsyncClient, admin: dict[str, str], editor: dict[str, str], exports: Path
) -> None:
    cid = await _connection(client, admin, exports)
    response = await _upload(client, editor, cid, "deals-march.csv", GOOD)
    assert response.status_code == 201, response.text
    assert response.json()["file"] == "deals-march.csv"
    assert response.json()["size"] == len(GOOD)
    assert response.json()["streams"] == ["deals"]
    assert (exports / "deals-march.csv").read_bytes() == GOOD
    audit = (await client.get("/v1/audit", headers=admin)).json()["items"]
    assert any(e["action"] == "connection.upload" for e in audit)


async def test_a_viewer_may_not_upload(
    client: httpx.AsyncClient, admin: dict[str, str], viewer: dict[str, str], exports: Path
) -> None:
    cid = await _connection(client, admin, exports)
    response = await _upload(client, viewer, cid, "deals.csv", GOOD)
    assert response.status_code == 403
    assert names(exports) == []


async def test_a_bad_row_refuses_the_whole_file_naming_where(
    client: httpx.AsyncClient, admin: dict[str, str], exports: Path
) -> None:
    cid = await _connection(client, admin, exports)
    await _upload(client, admin, cid, "deals.csv", GOOD)
    bad = b"id,amount,closed\nd-1,12.5,2026-03-01\nd-2,lots,2026-03-02\n"
    response = await _upload(client, admin, cid, "deals.csv", bad)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["file"], problem["line"], problem["column"]) == ("deals.csv", 3, "amount")
    # The earlier upload of that name is untouched; nothing partial lies around.
    assert (exports / "deals.csv").read_bytes() == GOOD
    assert names(exports) == ["deals.csv"]


@pytest.mark.parametrize("name", ["../deals.csv", ".deals.csv", "deals.txt", "notes.csv"])
async def test_a_name_outside_the_folder_or_its_streams_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], exports: Path, name: str
) -> None:
    cid = await _connection(client, admin, exports)
    response = await _upload(client, admin, cid, name, GOOD)
    assert response.status_code == 400, response.text
    assert list(exports.parent.rglob("*.csv")) == []


@pytest.mark.usefixtures("exports")
async def test_a_connection_that_reads_its_vendor_takes_no_uploads(
    client: httpx.AsyncClient, admin: dict[str, str], tmp_path: Path
) -> None:
    dam = tmp_path / "dam"
    dam.mkdir()
    body = {"connector": "localfolder", "name": "dam", "settings": {"root": str(dam)}}
    cid = (await client.post("/v1/connections", json=body, headers=admin)).json()["id"]
    response = await _upload(client, admin, cid, "deals.csv", GOOD)
    assert response.status_code == 409, response.text


async def _chunks(size: int) -> AsyncIterator[bytes]:
    yield b"id,amount,closed\n"
    sent = row = 0
    while sent < size:
        block = b"".join(b"d-%010d,1.00,2026-03-01\n" % (row + i) for i in range(1000))
        row += 1000
        sent += len(block)
        yield block


@pytest.fixture
async def small_cap_client(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    capped = settings.model_copy(update={"upload_max_bytes": 3 * 1_048_576})
    app = create_app(capped)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client, app


async def test_uploads_have_their_own_cap_beyond_the_api_body_cap(
    small_cap_client: tuple[httpx.AsyncClient, FastAPI],
    admin: dict[str, str],
    exports: Path,
) -> None:
    client, _app = small_cap_client
    cid = await _connection(client, admin, exports)
    two_mb = await _upload(client, admin, cid, "deals-big.csv", _chunks(2 * 1_048_576))
    # Past the API's 1 MB body cap, within the upload cap: stored.
    assert two_mb.status_code == 201, two_mb.text[:300]
    four_mb = await _upload(client, admin, cid, "deals-huge.csv", _chunks(4 * 1_048_576))
    assert four_mb.status_code == 413
    assert not (exports / "deals-huge.csv").exists()
    assert names(exports) == ["deals-big.csv"]
    # The rest of the API keeps its own cap.
    big_json = b'{"name": "' + b"x" * 2 * 1_048_576 + b'"}'
    response = await client.post(
        "/v1/taxonomy/schemes",
        content=big_json,
        headers={**admin, "content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_stored_settings_the_connector_no_longer_accepts_give_409(
    client: httpx.AsyncClient, admin: dict[str, str], exports: Path, session: AsyncSession
) -> None:
    cid = await _connection(client, admin, exports)
    row = await repository.get(session, uuid.UUID(cid))
    row.settings = {**row.settings, "legacy_option": "secret-ish-value-31"}
    await session.commit()
    response = await _upload(client, admin, cid, "deals.csv", GOOD)
    assert response.status_code == 409, response.text
    assert "legacy_option" in response.json()["detail"]
    assert "secret-ish-value-31" not in response.text
    assert names(exports) == []
