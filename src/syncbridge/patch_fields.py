"""Fields of PATCH bodies shared by every domain."""

from __future__ import annotations

from typing import Any

from pydantic import Field


def _drop_null(schema: dict[str, Any]) -> None:
    schema.pop("default", None)
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options


def optional_not_null() -> Any:
    """A patch field that may be left out but not sent as null (refused with 422)."""
    return Field(default=None, json_schema_extra=_drop_null)
