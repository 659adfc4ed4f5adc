"""``ETag`` on editable resources and ``If-Match`` on their writes.

Every editable resource (concept scheme, concept, mapping rule, connection) carries a
revision that counts its committed changes; responses carry it as a strong ``ETag``
(``"3"``). A PATCH, DELETE or deprecation sent with ``If-Match`` is applied only while the
stored revision is one it names (``*`` names any), else it is refused with 412 and changes
nothing. Writes without ``If-Match`` are applied to the current revision; with
``SYNCBRIDGE_REQUIRE_IF_MATCH=true`` they are refused with 428 instead.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Response

from syncbridge.errors import PreconditionRequired
from syncbridge.store.preconditions import Precondition, etag

IF_MATCH_DESCRIPTION = (
    'The resource\'s ETag as last read (for example `"3"`), or `*`: the write is applied '
    "only while that revision is current (412 otherwise)."
)


async def if_match(
    request: Request,
    if_match: Annotated[str | None, Header(description=IF_MATCH_DESCRIPTION)] = None,
) -> Precondition:
    """The write's precondition; 428 when one is required and missing."""
    if if_match is None and request.app.state.settings.require_if_match:
        raise PreconditionRequired(
            "This write needs an If-Match header with the ETag of the revision it changes."
        )
    return Precondition.parse(if_match)


IfMatch = Annotated[Precondition, Depends(if_match)]


def set_etag(response: Response, revision: int) -> None:
    """Give ``response`` the ETag of ``revision``."""
    response.headers["ETag"] = etag(revision)
