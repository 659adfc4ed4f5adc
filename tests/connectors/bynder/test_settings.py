"""Bynder settings: the portal URL (a path prefix allowed, for mounted simulators)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from syncbridge_bynder import BynderSettings


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://acme.bynder.com", "https://acme.bynder.com"),
        ("https://acme.bynder.com/", "https://acme.bynder.com"),
        ("http://127.0.0.1:8000/sandbox/bynder/", "http://127.0.0.1:8000/sandbox/bynder"),
    ],
)
def test_portal_url_may_carry_a_path_prefix(url: str, stored: str) -> None:
    settings = BynderSettings(base_url=url, permanent_token="t")
    assert settings.base_url == stored


@pytest.mark.parametrize(
    "url",
    [
        "acme.bynder.com",
        "ftp://acme.bynder.com",
        "https://acme.bynder.com/?page=1",
        "https://acme.bynder.com/#top",
        "https://acme bynder.com",
    ],
)
def test_portal_url_that_is_not_one_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="base_url must be the portal URL"):
        BynderSettings(base_url=url, permanent_token="t")


@pytest.mark.parametrize("token", ["abc\ndef", "abc\r\nX-Evil: 1", "tab\there", "nul\x00"])
def test_a_token_that_cannot_be_a_header_is_refused_without_echo(token: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BynderSettings(base_url="https://acme.bynder.com", permanent_token=token)
    assert caught.value.errors()[0]["loc"] == ("permanent_token",)
    assert token not in str(caught.value.errors(include_input=False))
