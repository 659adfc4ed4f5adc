"""Issue 7, item 4: labels are compared after Unicode normalisation (NFKC, case-folded), and
invisible characters are refused, so look-alike labels cannot both exist."""

from __future__ import annotations

import httpx
import pytest

BASE = "/v1/taxonomy"


@pytest.fixture
async def channel(client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    scheme = {"key": "channel", "title": "Channel"}
    assert (await client.post(f"{BASE}/schemes", json=scheme, headers=editor)).is_success
    email = {"scheme": "channel", "key": "channel:email", "pref_label": {"en": "Email"}}
    assert (await client.post(f"{BASE}/concepts", json=email, headers=editor)).is_success


@pytest.mark.usefixtures("channel")
@pytest.mark.parametrize(
    "hidden",
    ["\u200b", "\u00ad", "\ufeff", "\u200d", "\x07"],
    ids=["zwsp", "shy", "bom", "zwj", "bel"],
)
async def test_a_label_with_an_invisible_character_is_refused(
    client: httpx.AsyncClient, editor: dict[str, str], hidden: str
) -> None:
    body = {"scheme": "channel", "key": "channel:email2", "pref_label": {"en": f"Em{hidden}ail"}}
    response = await client.post(f"{BASE}/concepts", json=body, headers=editor)
    assert response.status_code == 422, response.text
    assert "invisible" in response.text


@pytest.mark.usefixtures("channel")
async def test_a_fullwidth_twin_of_a_label_is_a_duplicate(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    fullwidth = "\uff25\uff4d\uff41\uff49\uff4c"
    body = {"scheme": "channel", "key": "channel:email2", "pref_label": {"en": fullwidth}}
    response = await client.post(f"{BASE}/concepts", json=body, headers=editor)
    assert response.status_code == 409, response.text


@pytest.mark.usefixtures("channel")
async def test_a_search_finds_a_label_in_any_width(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    response = await client.get(f"{BASE}/concepts", params={"q": "\uff45\uff4d"}, headers=viewer)
    assert [c["key"] for c in response.json()["items"]] == ["channel:email"]


async def test_an_import_with_an_invisible_character_names_the_line(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    document = (
        "scheme:\n  key: tone\n  title: Tone\nconcepts:\n"
        "  - key: tone:calm\n    pref_label: Calm\n"
        '  - key: tone:calm2\n    pref_label: "Ca\\u200blm"\n'
    )
    response = await client.post(
        f"{BASE}/import",
        content=document.encode(),
        headers={**editor, "content-type": "application/yaml"},
    )
    assert response.status_code == 422, response.text
    assert "invisible" in response.text
