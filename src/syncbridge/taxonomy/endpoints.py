"""``/v1/taxonomy``: schemes, concepts, import and export."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/taxonomy", tags=["taxonomy"])
