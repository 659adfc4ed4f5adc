"""Settings come from SYNCBRIDGE_* variables and refuse unsafe defaults in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from syncbridge.settings import DEVELOPMENT_SECRET_KEY, Settings


def test_defaults_are_an_embedded_sqlite_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCBRIDGE_DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.environment == "development"


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCBRIDGE_DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("SYNCBRIDGE_MAX_BODY_BYTES", "2048")
    settings = Settings()
    assert settings.database_url == "postgresql://db/x"
    assert settings.max_body_bytes == 2048


@pytest.mark.parametrize(
    "secret",
    [
        None,
        DEVELOPMENT_SECRET_KEY,
        "short",
        f"x,{DEVELOPMENT_SECRET_KEY}",
        f"{'k' * 48},{DEVELOPMENT_SECRET_KEY}",
        f"{'k' * 48},",
    ],
)
def test_production_refuses_a_default_or_weak_secret(
    monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    monkeypatch.setenv("SYNCBRIDGE_ENVIRONMENT", "production")
    if secret is None:
        monkeypatch.delenv("SYNCBRIDGE_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SYNCBRIDGE_SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="SYNCBRIDGE_SECRET_KEY"):
        Settings()


@pytest.mark.parametrize("secret", ["k" * 48, f"{'n' * 40},{'o' * 40}"])
def test_production_accepts_real_secrets(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("SYNCBRIDGE_ENVIRONMENT", "production")
    monkeypatch.setenv("SYNCBRIDGE_SECRET_KEY", secret)
    assert Settings().environment == "production"


def test_secret_is_not_shown_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCBRIDGE_SECRET_KEY", "super-secret-value-123456789012345")
    assert "super-secret-value" not in repr(Settings())
