"""The ``limit``/``offset`` query parameters of every list endpoint (paging itself is the
store's: :mod:`syncbridge.store.paging`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from syncbridge.errors import InvalidInput
from syncbridge.store.paging import Page, PageParams

__all__ = ["MAX_OFFSET", "Page", "PageParams", "Paging", "page_params"]

#: The largest offset a list accepts (a signed 64-bit integer, what the databases take).
MAX_OFFSET = 2**63 - 1


async def page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, description="Page size (capped by the server).")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PageParams:
    """Read ``limit``/``offset``; a limit above the cap is a 422, not a silent clamp."""
    cap: int = request.app.state.settings.page_size_max
    if limit > cap:
        raise InvalidInput(
            f"limit must be at most {cap}",
            errors=[{"field": "limit", "reason": f"must be at most {cap}"}],
        )
    return PageParams(limit=limit, offset=offset)


Paging = Annotated[PageParams, Depends(page_params)]
