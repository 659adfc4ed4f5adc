"""``/v1/connections``: connection CRUD and checks."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/connections", tags=["connections"])
