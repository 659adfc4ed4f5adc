"""The default rule files bundled with syncbridge (``taxonomy/`` in a checkout, ``_taxonomy``
in a wheel), read the same way for every kind of rule: a mapping with a ``rules`` list, each
rule a body plus a stable ``key``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

import syncbridge

__all__ = ["bundled", "read_keyed_rules"]


K = TypeVar("K", bound=BaseModel)


def bundled(relative: Path) -> Path | None:
    """``relative`` under the bundled taxonomy folder, if it is there."""
    package = Path(syncbridge.__file__).resolve().parent
    for folder in (package.parents[1] / "taxonomy", package / "_taxonomy"):
        if (folder / relative).exists():
            return folder / relative
    return None


def read_keyed_rules(
    path: Path, model: type[K], errors: Callable[[K], Sequence[Mapping[str, str]]]
) -> list[K]:
    """The rules of a defaults file as ``model`` (which has a ``key``); raises ValueError
    naming each bad rule and why (``errors`` gives a rule's field problems)."""
    loaded: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = loaded.get("rules") if isinstance(loaded, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a mapping with a 'rules' list")
    rules: list[K] = []
    problems: list[str] = []
    keys: set[str] = set()
    for i, item in enumerate(items):
        try:
            rule = model.model_validate(item)
        except ValidationError as exc:
            problems.append(f"rules[{i}]: {exc}")
            continue
        reasons = errors(rule)
        if reasons:
            problems += [f"rules[{i}].{e['field']}: {e['reason']}" for e in reasons]
            continue
        key = str(getattr(rule, "key"))  # noqa: B009 - every defaults model has a key
        if key in keys:
            problems.append(f"rules[{i}]: key {key!r} is used twice")
        keys.add(key)
        rules.append(rule)
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return rules
