"""The default link rules (``taxonomy/links/link_rules.yaml``), loaded at start.

Each default keeps its file key as the rule's ``default_key``. Loading creates the defaults
the store has never had, so a fresh store gets them all, a default added to the file later
arrives at the next start, and a default an admin archived stays archived.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.defaults_files import bundled, read_keyed_rules
from syncbridge.linking import repository
from syncbridge.linking.schemas import LinkRuleCreate
from syncbridge.linking.service import create_rule, queue_relink, rule_errors
from syncbridge.logs import get_logger

__all__ = ["DefaultLinkRule", "default_rules_file", "load_default_link_rules", "read_default_rules"]

log = get_logger(__name__)
FILE = Path("links") / "link_rules.yaml"


class DefaultLinkRule(LinkRuleCreate):
    """One default rule: a rule body and its stable key."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=100)]


def default_rules_file() -> Path | None:
    """The bundled defaults file, if it is there."""
    return bundled(FILE)


def read_default_rules(path: Path) -> list[DefaultLinkRule]:
    """The rules of a defaults file; raises ValueError naming each bad rule and why."""
    return read_keyed_rules(path, DefaultLinkRule, lambda rule: rule_errors(rule.model_dump()))


async def load_default_link_rules(
    session: AsyncSession, actor: str, path: Path | None = None
) -> int:
    """Create the default rules the store never had (one relink queued for them); returns
    how many were created. Flushes only: the caller commits."""
    path = path or default_rules_file()
    if path is None:
        log.warning("linking.default_rules_missing")
        return 0
    known = await repository.default_keys(session)
    created = 0
    for rule in read_default_rules(path):
        if rule.key in known:
            continue
        body = LinkRuleCreate.model_validate(rule.model_dump(exclude={"key"}))
        await create_rule(session, body, actor, default_key=rule.key, relink=False)
        created += 1
    if created:
        await queue_relink(session, "defaults", {"defaults": created})
        log.info("linking.default_rules_loaded", created=created)
    return created
