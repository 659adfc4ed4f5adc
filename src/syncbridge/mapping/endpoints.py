"""``/v1/mappings``: mapping rules, their versions and previews."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/mappings", tags=["mappings"])
