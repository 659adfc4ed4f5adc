"""SecretBox: Fernet keys or passphrases, several keys for rotation, clear failures."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from syncbridge.connections.secrets import HKDF_INFO, SecretBox, SecretsUnreadable

SECRETS = {"api_token": "tok-unit-8c1e", "webhook_secret": "whsec-unit-44"}
OLD = "old-passphrase-with-enough-entropy-0123456789"
NEW = Fernet.generate_key().decode()


def test_round_trip_hides_the_plaintext() -> None:
    box = SecretBox.from_key_material(OLD)
    token = box.encrypt(SECRETS)
    assert "tok-unit-8c1e" not in token
    assert box.decrypt(token) == SECRETS


def test_a_real_fernet_key_is_used_as_is() -> None:
    token = Fernet(NEW.encode()).encrypt(b'{"api_token":"x"}').decode()
    assert SecretBox.from_key_material(NEW).decrypt(token) == {"api_token": "x"}


def test_a_passphrase_is_derived_with_the_documented_hkdf() -> None:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        OLD.encode()
    )
    token = SecretBox.from_key_material(OLD).encrypt(SECRETS)
    assert Fernet(base64.urlsafe_b64encode(derived)).decrypt(token.encode())
    assert HKDF_INFO == b"syncbridge/connection-secrets/v1"


def test_first_key_encrypts_and_every_key_decrypts() -> None:
    old_token = SecretBox.from_key_material(OLD).encrypt(SECRETS)
    both = SecretBox.from_key_material(f"{NEW}, {OLD}")
    assert both.key_count == 2
    assert both.decrypt(old_token) == SECRETS
    assert SecretBox.from_key_material(NEW).decrypt(both.encrypt(SECRETS)) == SECRETS


def test_rotate_moves_a_token_to_the_first_key() -> None:
    old_token = SecretBox.from_key_material(OLD).encrypt(SECRETS)
    rotated = SecretBox.from_key_material(f"{NEW},{OLD}").rotate(old_token)
    assert SecretBox.from_key_material(NEW).decrypt(rotated) == SECRETS


def test_unreadable_token_names_the_connection_never_the_secret() -> None:
    token = SecretBox.from_key_material(OLD).encrypt(SECRETS)
    with pytest.raises(SecretsUnreadable) as caught:
        SecretBox.from_key_material(NEW).decrypt(token, connection="bynder-prod")
    assert "'bynder-prod'" in caught.value.detail
    assert "tok-unit-8c1e" not in caught.value.detail
    with pytest.raises(SecretsUnreadable, match="bynder-prod"):
        SecretBox.from_key_material(NEW).rotate(token, connection="bynder-prod")


def test_an_empty_token_holds_no_secrets() -> None:
    assert SecretBox.from_key_material(OLD).decrypt("") == {}


@pytest.mark.parametrize("material", ["", " , ,"])
def test_empty_key_material_is_refused(material: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        SecretBox.from_key_material(material)
