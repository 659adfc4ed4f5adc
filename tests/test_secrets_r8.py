"""QUALITY R8: connection secrets never appear in the store, the API or the logs, and survive
a key rotation (new key first, old key second, then the new key alone)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from structlog.testing import capture_logs
from typer.testing import CliRunner, Result

from syncbridge.cli.main import app as cli
from syncbridge.connections.secrets import SecretBox, SecretsUnreadable
from syncbridge.db import create_engine
from syncbridge.models import Base, Connection
from syncbridge.settings import Settings, get_settings
from tests.conftest import BACKEND
from tests.plugins_connections import EchoVendor, echo_installed, echo_settings

NEW_KEY = Fernet.generate_key().decode()
#: Distinctive plaintexts: none may appear anywhere but in the vendor's Authorization header.
TOKENS = {
    "dam-one": ("tok-echo-R8alpha-6d2f0b3c", "whsec-R8bravo-91ce55aa"),
    "dam-two": ("tok-echo-R8charlie-e4a7d019", "whsec-R8delta-07b3f6e2"),
    "dam-three": ("tok-echo-R8echo-5c8e21ff", None),
}
PATCHED_TOKEN = "tok-echo-R8foxtrot-a1b2c3d4"
PLAINTEXTS = [t for pair in TOKENS.values() for t in pair if t] + [PATCHED_TOKEN]


def _assert_no_plaintext(haystack: str | bytes, where: str) -> None:
    data = haystack if isinstance(haystack, bytes) else haystack.encode()
    for secret in PLAINTEXTS:
        assert secret.encode() not in data, f"a plaintext secret is in {where}"


@pytest.fixture
async def vendor(app: FastAPI) -> AsyncIterator[EchoVendor]:
    async with echo_installed(app) as installed:
        yield installed


@pytest.fixture
def cli_env(settings: Settings) -> Iterator[dict[str, str]]:
    """Environment for the CLI: the test database and the key list ``new,old``."""
    old = settings.secret_key.get_secret_value()
    get_settings.cache_clear()
    yield {
        "SYNCBRIDGE_DATABASE_URL": settings.database_url,
        "SYNCBRIDGE_SECRET_KEY": f"{NEW_KEY},{old}",
    }
    get_settings.cache_clear()


async def _configure(client: httpx.AsyncClient, admin: dict[str, str]) -> list[str]:
    """Create the connections, patch one secret, read everything back: every response text."""
    texts: list[str] = []
    ids: list[str] = []
    for name, (token, webhook_secret) in TOKENS.items():
        settings = echo_settings(api_token=token, webhook_secret=webhook_secret)
        body = {"connector": "echo", "name": name, "settings": settings}
        created = await client.post("/v1/connections", json=body, headers=admin)
        assert created.status_code == 201
        texts.append(created.text)
        ids.append(created.json()["id"])
    patched = await client.patch(
        f"/v1/connections/{ids[2]}", json={"settings": {"api_token": PATCHED_TOKEN}}, headers=admin
    )
    assert patched.status_code == 200
    texts.append(patched.text)
    for connection_id in ids:
        texts.append((await client.get(f"/v1/connections/{connection_id}", headers=admin)).text)
        checked = await client.post(f"/v1/connections/{connection_id}/check", headers=admin)
        assert checked.json()["status"] == "ok"
        texts.append(checked.text)
    texts.append((await client.get("/v1/connections", headers=admin)).text)
    texts.append((await client.get("/v1/audit?limit=200", headers=admin)).text)
    return texts


async def _database_dump(db_url: str) -> list[tuple[str, str | bytes]]:
    """Everything the store holds: raw SQLite files and ``iterdump``, or every PostgreSQL row."""
    if BACKEND == "sqlite":
        path = Path(make_url(db_url).database or "")
        files: list[tuple[str, str | bytes]] = [
            (p.name, p.read_bytes())
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
            if p.exists()
        ]
        with sqlite3.connect(path) as conn:
            files.append(("iterdump", "\n".join(conn.iterdump())))
        return files
    engine = create_engine(db_url)
    rows: list[tuple[str, str | bytes]] = []
    try:
        async with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                result = await conn.execute(text(f'SELECT t::text FROM "{table.name}" t'))
                rows.append((table.name, "\n".join(result.scalars())))
    finally:
        await engine.dispose()
    return rows


async def _rotate_with_cli(env: dict[str, str]) -> Result:
    # The command runs its own event loop, so it runs in a thread beside this one.
    return await asyncio.to_thread(CliRunner().invoke, cli, ["keys", "rotate-secrets"], env=env)


@pytest.mark.usefixtures("vendor")
async def test_no_plaintext_in_store_api_or_logs_and_rotation_keeps_rows_readable(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db_url: str,
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with capture_logs() as events:
        texts = await _configure(client, admin)
    for number, body in enumerate(texts):
        _assert_no_plaintext(body, f"API response #{number}")
    _assert_no_plaintext(repr(events), "structlog events")
    assert any(e["event"] == "connection.checked" for e in events)
    dump = await _database_dump(db_url)
    for where, dumped in dump:
        _assert_no_plaintext(dumped, f"the database dump ({where})")
    # The dump does see the rows (so the check above is not vacuous).
    assert any(b"dam-two" in (d if isinstance(d, bytes) else d.encode()) for _w, d in dump)

    result = await _rotate_with_cli(cli_env)
    assert result.exit_code == 0, result.output
    assert "3 connection(s)" in result.output
    _assert_no_plaintext(result.output, "the CLI output")

    new_only = SecretBox.from_key_material(NEW_KEY)
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(select(Connection))).scalars().all()
    assert {row.name: new_only.decrypt(row.secrets) for row in rows} == {
        "dam-one": {"api_token": TOKENS["dam-one"][0], "webhook_secret": TOKENS["dam-one"][1]},
        "dam-two": {"api_token": TOKENS["dam-two"][0], "webhook_secret": TOKENS["dam-two"][1]},
        "dam-three": {"api_token": PATCHED_TOKEN},
    }
    with pytest.raises(SecretsUnreadable):
        app.state.secret_box.decrypt(rows[0].secrets, connection=rows[0].name)

    # The service restarts with the new key alone: every connection still checks out.
    app.state.secret_box = new_only
    for row in rows:
        checked = await client.post(f"/v1/connections/{row.id}/check", headers=admin)
        assert checked.json()["status"] == "ok"
    audit = (await client.get("/v1/audit?action=connection.rotate_secrets", headers=admin)).json()
    assert audit["items"][0]["actor"] == "cli"
    assert audit["items"][0]["after"] == {"connections": 3, "keys": 2}
    captured = capsys.readouterr()
    _assert_no_plaintext(captured.out + captured.err + caplog.text, "captured output")


@pytest.mark.usefixtures("vendor")
async def test_rotation_is_all_or_nothing_when_a_row_is_unreadable(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], cli_env: dict[str, str]
) -> None:
    body = {"connector": "echo", "name": "readable", "settings": echo_settings()}
    assert (await client.post("/v1/connections", json=body, headers=admin)).status_code == 201
    stray_key = Fernet.generate_key().decode()
    async with app.state.sessionmaker() as session:
        stray = Connection(
            id=uuid.uuid4(),
            connector_key="echo",
            name="written-under-a-lost-key",
            settings={"base_url": "http://api.vendor.example"},
            secrets=SecretBox.from_key_material(stray_key).encrypt({"api_token": "tok-echo-x"}),
        )
        session.add(stray)
        await session.commit()
        before = dict((await session.execute(select(Connection.name, Connection.secrets))).all())

    result = await _rotate_with_cli(cli_env)

    assert result.exit_code == 1
    assert "'written-under-a-lost-key'" in result.output
    assert "Nothing was changed" in result.output
    async with app.state.sessionmaker() as session:
        after = dict((await session.execute(select(Connection.name, Connection.secrets))).all())
    assert after == before
    got = (await client.get(f"/v1/connections/{stray.id}", headers=admin)).json()
    assert got["secrets_readable"] is False
    assert got["settings"]["api_token"] is None
