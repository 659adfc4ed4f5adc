"""/docs and /redoc render on an air-gapped server: every script, style and icon they load is
served by the app itself (files installed with fastapi-offline), none from another host."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest

# src="..." / href="..." attributes, and the string arguments of Swagger UI's and ReDoc's
# initialisers (the OpenAPI document's URL).
_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


def references(page: str) -> list[str]:
    return [a or b for a, b in _REFERENCES.findall(page)]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_documentation_pages_load_nothing_from_another_host(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    page = response.text
    found = references(page)
    assert any(ref.endswith(".js") for ref in found), found
    for ref in found:
        parts = urlsplit(ref)
        assert not parts.netloc, f"{path} loads {ref} from another host"
        assert not parts.scheme, f"{path} loads {ref} from another host"
    # Nothing else on the page names a host either (a CDN, web fonts).
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.I), page
    for ref in found:
        served = await client.get(ref)
        assert served.status_code == 200, ref
        assert served.content, ref


async def test_the_documentation_assets_need_no_key(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    script = next(ref for ref in references(page) if ref.endswith("swagger-ui-bundle.js"))
    response = await client.get(script)
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
