"""Salesforce connection settings: the OAuth flow's needs, keys, ids, field names, bounds."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError
from syncbridge_salesforce import SalesforceSettings

from .support import jwt_key, pem

CC: dict[str, Any] = {
    "instance_url": "https://acme.my.salesforce.com",
    "client_id": "3MVG9consumerkey",
    "client_secret": "consumer-secret",
}


def make(**values: Any) -> SalesforceSettings:
    return SalesforceSettings(**{**CC, **values})


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " ".join(e["msg"] for e in exc.value.errors(include_input=False))


def test_client_credentials_call_the_my_domain_for_tokens() -> None:
    settings = make()
    assert settings.login_url == "https://acme.my.salesforce.com"
    assert settings.api_version == "v62.0"
    assert "Name" in settings.campaign_fields


def test_client_credentials_refuse_the_generic_login_host() -> None:
    with pytest.raises(ValidationError) as caught:
        make(login_url="https://login.salesforce.com")
    assert "My Domain" in messages(caught)


def test_client_credentials_need_the_secret() -> None:
    with pytest.raises(ValidationError, match="client_secret"):
        make(client_secret=None)


def test_jwt_bearer_needs_username_and_key() -> None:
    with pytest.raises(ValidationError, match="username and private_key"):
        make(auth_flow="jwt_bearer", client_secret=None, username="a@b.example")
    settings = make(
        auth_flow="jwt_bearer",
        client_secret=None,
        username="a@b.example",
        private_key=pem(jwt_key()),
    )
    assert settings.login_url == "https://login.salesforce.com"


def test_a_bad_pem_is_refused_without_echoing_it() -> None:
    garbage = "-----BEGIN PRIVATE KEY-----\nnot-a-key-SECRETMATERIAL\n-----END PRIVATE KEY-----"
    with pytest.raises(ValidationError) as caught:
        make(auth_flow="jwt_bearer", username="a@b.example", private_key=garbage)
    text = messages(caught)
    assert "unencrypted PEM private key" in text
    assert "SECRETMATERIAL" not in text


def test_a_non_rsa_key_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ValidationError, match="RSA key"):
        make(auth_flow="jwt_bearer", username="a@b.example", private_key=ec_pem)


@pytest.mark.parametrize("version", ["62.0", "v62", "v62.1", "v1.0", "vx.0", "v62.0/../x"])
def test_api_version_must_be_vNN_0(version: str) -> None:
    with pytest.raises(ValidationError):
        make(api_version=version)


def test_a_15_character_org_id_is_stored_in_its_18_character_form() -> None:
    assert make(organization_id="00D5g000004SbXk").organization_id == "00D5g000004SbXkEAK"
    assert make(organization_id="00D5g000004SbXkEAK").organization_id == "00D5g000004SbXkEAK"


@pytest.mark.parametrize(
    "org", ["00D5g000004SbXkAAA", "0015g000004SbXk", "00D5g000004SbX", "x" * 15]
)
def test_a_wrong_org_id_is_refused(org: str) -> None:
    with pytest.raises(ValidationError):
        make(organization_id=org)


@pytest.mark.parametrize(
    "secret", ["short", "has/slash-in-it-123", "has space in it 12345", "é" * 20]
)
def test_the_outbound_secret_is_one_long_url_path_segment(secret: str) -> None:
    with pytest.raises(ValidationError):
        make(outbound_secret=secret)


@pytest.mark.parametrize(
    "name", ["Account.Name", "Name FROM User", "Id,Name", "", "1Name", "Name--", "COUNT()"]
)
def test_field_names_are_plain_identifiers(name: str) -> None:
    with pytest.raises(ValidationError, match="not a field API name"):
        make(campaign_fields=["Name", name])


def test_field_lists_drop_repeats_and_keep_custom_fields() -> None:
    settings = make(contact_fields=["Email", "Email", "ns__Score__c"])
    assert settings.contact_fields == ["Email", "ns__Score__c"]


@pytest.mark.parametrize("size", [199, 2001, 0])
def test_page_size_is_salesforce_batch_size_range(size: int) -> None:
    with pytest.raises(ValidationError):
        make(page_size=size)


@pytest.mark.parametrize("url", ["acme.my.salesforce.com", "ftp://x", "https://user@host", ""])
def test_urls_are_http_origins(url: str) -> None:
    with pytest.raises(ValidationError):
        make(instance_url=url)


def test_secrets_and_called_urls_are_declared() -> None:
    assert SalesforceSettings.secret_fields() == {
        "client_secret",
        "private_key",
        "outbound_secret",
    }
    assert SalesforceSettings.url_fields() == {"instance_url", "login_url"}


def test_secrets_do_not_show_in_the_settings_repr() -> None:
    settings = make(outbound_secret="a-long-outbound-path-secret")
    assert "consumer-secret" not in repr(settings)
    assert "a-long-outbound-path-secret" not in repr(settings)
