"""Which connector settings are SSRF-checked URLs and which are secrets: by type, not by name."""

from __future__ import annotations

from pydantic import SecretStr
from syncbridge_bynder import BynderSettings
from syncbridge_cloudinary import CloudinarySettings

from syncbridge.connector.spec import ConnectorSettings, VendorUrl
from tests.plugins_connections import EchoSettings


class Marked(ConnectorSettings):
    base_url: VendorUrl
    token_endpoint: VendorUrl | None = None
    #: Named like a URL but never called by syncbridge (a link shown to people).
    help_url: str = "https://example.com/help"
    api_key: SecretStr


def test_url_fields_are_the_marked_ones_whatever_their_name() -> None:
    assert Marked.url_fields() == {"base_url", "token_endpoint"}


def test_the_shipped_connectors_mark_the_urls_they_call() -> None:
    assert BynderSettings.url_fields() == {"base_url"}
    assert CloudinarySettings.url_fields() == {"base_url"}
    assert EchoSettings.url_fields() == {"base_url", "token_endpoint"}


def test_secret_fields_are_the_secret_typed_ones() -> None:
    assert Marked.secret_fields() == {"api_key"}
