"""Optimistic concurrency: an editable resource's revision is its ``ETag``; a write may say
which revision it was made against (``If-Match``), and is refused with 412 when the stored
revision moved on since."""

from __future__ import annotations

from dataclasses import dataclass

from syncbridge.errors import PreconditionFailed


def etag(revision: int) -> str:
    """The strong entity tag of a revision: the number in double quotes."""
    return f'"{revision}"'


@dataclass(frozen=True)
class Precondition:
    """What a write's ``If-Match`` asked for: nothing, any revision (``*``) or some."""

    given: bool = False
    any_revision: bool = False
    revisions: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, header: str | None) -> Precondition:
        """Read an ``If-Match`` value. Weak or malformed tags never match (RFC 9110 13.1.1
        compares strongly)."""
        if header is None or not header.strip():
            return cls()
        tags = [t.strip() for t in header.split(",") if t.strip()]
        if "*" in tags:
            return cls(given=True, any_revision=True)
        numbers = {
            int(t[1:-1])
            for t in tags
            if len(t) >= 3 and t[0] == t[-1] == '"' and t[1:-1].isascii() and t[1:-1].isdigit()
        }
        return cls(given=True, revisions=frozenset(numbers))

    def check(self, revision: int, what: str) -> None:
        """Raise PreconditionFailed unless a write against ``revision`` may go ahead."""
        if not self.given or self.any_revision or revision in self.revisions:
            return
        raise PreconditionFailed(
            f"{what} is at revision {revision}, not the one If-Match names; "
            "reload it and apply the change again.",
            extra={"revision": revision},
        )


#: No ``If-Match``: the write goes to whatever revision is stored.
UNCONDITIONAL = Precondition()
