"""A connector plugin whose import fails, as a plugin with a bad dependency would."""

from __future__ import annotations

raise ImportError("syncbridge_missing_sdk is not installed")
