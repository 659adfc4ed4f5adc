"""Google's error envelope and the JSON-shape checks every GA4 simulator module shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class GoogleError(Exception):
    """An error answer in Google's envelope ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def invalid(message: str) -> GoogleError:
    """400 ``INVALID_ARGUMENT``."""
    return GoogleError(400, "INVALID_ARGUMENT", message)


def known_names(obj: Mapping[str, Any], allowed: frozenset[str] | set[str], where: str) -> None:
    """Refuse JSON names the message does not have, as Google's JSON parser does."""
    for name in obj:
        if name not in allowed:
            at = f" at '{where}'" if where else ""
            raise invalid(
                f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
            )


def as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(f"Invalid JSON payload received. Invalid value at '{where}': not a list.")
    return value


def as_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"Invalid JSON payload received. Invalid value at '{where}': not an object.")
    return value


def as_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"Invalid JSON payload received. Invalid value at '{where}'.")
    return value


def enum_name(value: Any, names: Mapping[int, str], where: str) -> str:
    """An enum given by name or by number (``enum-encoding=int``) as its name."""
    if isinstance(value, bool):
        raise invalid(f"Invalid JSON payload received. Invalid value at '{where}'.")
    if isinstance(value, int) and value in names:
        return names[value]
    if isinstance(value, str) and value in names.values():
        return value
    raise invalid(f"Invalid JSON payload received. Invalid value at '{where}' ({str(value)[:40]}).")


__all__ = ["GoogleError", "as_bool", "as_list", "as_object", "enum_name", "invalid", "known_names"]
