"""The default tag rules (``taxonomy/tags/tag_rules.yaml``), loaded at start.

Each default keeps its file key as the rule's ``default_key``. Loading creates the defaults
the store has never had, so a fresh store gets them all, a default added to the file later
arrives at the next start, and a default an admin archived stays archived. A default that
does not fit the store (its tier concepts missing, say, because the store's taxonomy was
curated before) is skipped with a warning and tried again at the next start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import StringConstraints, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

import syncbridge
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
    """The bundled defaults: under ``taxonomy/`` in a checkout, ``_taxonomy`` in a wheel."""
    package = Path(syncbridge.__file__).resolve().parent
    for folder in (package.parents[1] / "taxonomy", package / "_taxonomy"):
        if (folder / FILE).is_file():
            return folder / FILE
    return None


def read_default_rules(path: Path) -> list[DefaultTagRule]:
    """The rules of a defaults file; raises ValueError naming each bad rule and why (what a
    rule says on its own; the store's taxonomy is checked when it is loaded)."""
    loaded: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = loaded.get("rules") if isinstance(loaded, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a mapping with a 'rules' list")
    rules, problems, keys = [], [], set()
    for i, item in enumerate(items):
        try:
            rule = DefaultTagRule.model_validate(item)
        except ValidationError as exc:
            problems.append(f"rules[{i}]: {exc}")
            continue
        reasons = rule_errors(rule_content(rule))
        if reasons:
            problems += [f"rules[{i}].{e['field']}: {e['reason']}" for e in reasons]
            continue
        if rule.key in keys:
            problems.append(f"rules[{i}]: key {rule.key!r} is used twice")
        keys.add(rule.key)
        rules.append(rule)
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return rules


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
