"""The default tag rules (``taxonomy/tags/tag_rules.yaml``), loaded at start.

Each default keeps its file key as the rule's ``default_key``. Loading creates the defaults
the store has never had, so a fresh store gets them all, a default added to the file later
arrives at the next start, and a default an admin archived stays archived. A default that
does not fit the store (its tier concepts missing, say, because the store's taxonomy was
curated before) is skipped with a warning and tried again at the next start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.defaults_files import bundled, read_keyed_rules
from syncbridge.errors import InvalidInput
from syncbridge.logs import get_logger
from syncbridge.tagging import repository
from syncbridge.tagging.schemas import TagRuleCreate
from syncbridge.tagging.service import create_rule, rule_content
from syncbridge.tagging.validation import rule_errors

__all__ = ["DefaultTagRule", "default_rules_file", "load_default_tag_rules", "read_default_rules"]

log = get_logger(__name__)
FILE = Path("tags") / "tag_rules.yaml"


class DefaultTagRule(TagRuleCreate):
    """One default rule: a rule body and its stable key."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=100)]


def default_rules_file() -> Path | None:
    """The bundled defaults file, if it is there."""
    return bundled(FILE)


def read_default_rules(path: Path) -> list[DefaultTagRule]:
    """The rules of a defaults file; raises ValueError naming each bad rule and why (what a
    rule says on its own; the store's taxonomy is checked when it is loaded)."""
    return read_keyed_rules(path, DefaultTagRule, lambda rule: rule_errors(rule_content(rule)))


async def load_default_tag_rules(
    session: AsyncSession, actor: str, path: Path | None = None
) -> int:
    """Create the default rules the store never had; returns how many were created.
    Flushes only: the caller commits. Raises ValueError for a broken file."""
    path = path or default_rules_file()
    if path is None:
        log.warning("tagging.default_rules_missing")
        return 0
    known = await repository.default_keys(session)
    created = 0
    for rule in read_default_rules(path):
        if rule.key in known:
            continue
        body = TagRuleCreate.model_validate(rule.model_dump(exclude={"key"}))
        try:
            # Validation raises before anything is written: nothing to roll back.
            await create_rule(session, body, actor, default_key=rule.key)
        except InvalidInput as exc:
            log.warning("tagging.default_rule_skipped", key=rule.key, errors=exc.errors)
            continue
        created += 1
    if created:
        log.info("tagging.default_rules_loaded", created=created)
    return created
