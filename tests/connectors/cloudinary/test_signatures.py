"""Golden vectors from the official SDK's test suite, and equivalence with the SDK's signer."""

from __future__ import annotations

import cloudinary.utils
import pytest
from hypothesis import given
from hypothesis import strategies as st
from syncbridge_cloudinary.pipe_pairs import decode_pairs, encode_pairs
from syncbridge_cloudinary.signatures import (
    notification_signature,
    sign_params,
    signable,
    signed_upload_params,
    string_to_sign,
    verify_notification,
)

from syncbridge.connector.errors import InvalidWebhook

# cloudinary/pycloudinary test/test_utils.py::test_verify_notification_signature
# (API_SECRET and MOCKED_NOW from the same module; the timestamp is MOCKED_NOW - 60).
SDK_SECRET = "X7qLTrsES31MzxxkxPPA-pAGGfU"
SDK_NOW = 1549533574
SDK_BODY = (
    '{"notification_type":"eager","eager":[{"transformation":"sp_full_hd/mp4","bytes":1055,'
    '"url":"http://res.cloudinary.com/demo/video/upload/sp_full_hd/v1533125278/dog.mp4",'
    '"secure_url":"https://res.cloudinary.com/demo/video/upload/sp_full_hd/v1533125278/dog.mp4"}],'
    '"public_id":"dog","batch_id":"9b11fa058c61fa577f4ec516bf6ee756ac2aefef095af99aef1302142cc1694a"}'
)
SDK_SIGNATURE = "dfe82de1d9083fe0b7ea68070649f9a15b8874da"


def sdk_headers(timestamp: int = SDK_NOW - 60, signature: str = SDK_SIGNATURE) -> dict[str, str]:
    return {"X-Cld-Timestamp": str(timestamp), "X-Cld-Signature": signature}


def test_sdk_notification_vector_passes_our_verifier() -> None:
    timestamp = verify_notification(
        sdk_headers(),
        SDK_BODY.encode(),
        api_secret=SDK_SECRET,
        algorithm="sha1",
        max_age_s=60,
        now=SDK_NOW,
    )
    assert timestamp == SDK_NOW - 60


def test_sdk_notification_vector_expires_like_the_sdk_says() -> None:
    with pytest.raises(InvalidWebhook, match="too old"):
        verify_notification(
            sdk_headers(),
            SDK_BODY.encode(),
            api_secret=SDK_SECRET,
            algorithm="sha1",
            max_age_s=59,
            now=SDK_NOW,
        )


def test_sdk_notification_vector_with_extra_chars_is_refused() -> None:
    with pytest.raises(InvalidWebhook, match="does not match"):
        verify_notification(
            sdk_headers(signature=SDK_SIGNATURE + "chars"),
            SDK_BODY.encode(),
            api_secret=SDK_SECRET,
            algorithm="sha1",
            max_age_s=60,
            now=SDK_NOW,
        )


def test_sdk_sha256_notification_vector_passes() -> None:
    # test_verify_notification_signature_sha256: body "{}", timestamp 0, "someApiSecret".
    headers = sdk_headers(
        timestamp=0, signature="d5497e1a206ad0ba29ad09a7c0c5f22e939682d15009c15ab3199f62fefbd14b"
    )
    assert (
        verify_notification(
            headers, b"{}", api_secret="someApiSecret", algorithm="sha256", max_age_s=60, now=0
        )
        == 0
    )


@pytest.mark.parametrize(
    "digits",
    [
        str(SDK_NOW - 60).translate({ord(d): 0xFF10 + int(d) for d in "0123456789"}),  # fullwidth
        str(SDK_NOW - 60).translate({ord(d): 0x0660 + int(d) for d in "0123456789"}),  # Arabic
        "\u00b2",  # superscript two: isdigit() but not int()-able
    ],
)
def test_timestamp_of_non_ascii_digits_is_refused_even_when_signed(digits: str) -> None:
    body = SDK_BODY.encode()
    headers = {
        "X-Cld-Timestamp": digits,
        "X-Cld-Signature": notification_signature(body, digits, SDK_SECRET),
    }
    with pytest.raises(InvalidWebhook, match="not a Unix timestamp"):
        verify_notification(
            headers, body, api_secret=SDK_SECRET, algorithm="sha1", max_age_s=60, now=SDK_NOW
        )


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("sha1", "14c00ba6d0dfdedbc86b316847d95b9e6cd46d94"),
        ("sha256", "45ddaa4fa01f0c2826f32f669d2e4514faf275fe6df053f1a150e7beae58a3bd"),
    ],
)
def test_sdk_api_sign_request_vectors(algorithm: str, expected: str) -> None:
    # test_utils.py::test_api_sign_request_sha1 / _sha256
    params = {"cloud_name": "dn6ot3ged", "timestamp": 1568810420, "username": "user@cloudinary.com"}
    assert sign_params(params, "hdcixPpR2iKERPwqvH6sHdK9cyac", algorithm=algorithm) == expected  # type: ignore[arg-type]


def test_version_2_encodes_ampersands_inside_values() -> None:
    params = {"tag": "a&b", "timestamp": "1"}
    assert string_to_sign(params, signature_version=1) == "tag=a&b&timestamp=1"
    assert string_to_sign(params) == "tag=a%26b&timestamp=1"


param_values = st.one_of(
    st.text(max_size=12),
    st.booleans(),
    st.integers(min_value=0, max_value=10**10),
    st.lists(st.text(min_size=1, max_size=6), max_size=3),
)


@given(
    params=st.dictionaries(st.from_regex(r"[a-z_]{1,10}", fullmatch=True), param_values),
    version=st.sampled_from([1, 2]),
)
def test_string_to_sign_matches_the_sdk(params: dict[str, object], version: int) -> None:
    assert string_to_sign(params, signature_version=version) == (  # type: ignore[arg-type]
        cloudinary.utils.api_string_to_sign(params, signature_version=version)
    )


def test_signed_upload_params_match_the_sdk_signer() -> None:
    params = {
        "command": "add",
        "tag": "perf:top-10",
        "public_ids": ["a/b", "c&d"],
        "type": "upload",
    }
    signed = signed_upload_params(params, api_key="k", api_secret="s", timestamp=1700000000)
    expected = cloudinary.utils.api_sign_request(
        {**params, "timestamp": "1700000000"}, "s", signature_version=2
    )
    assert signed["signature"] == expected
    assert signed["api_key"] == "k"
    assert "api_key" not in signable(signed)
    assert "signature" not in signable(signed)


context_values = st.text(
    alphabet=st.characters(blacklist_characters="\\", blacklist_categories=["Cs"]), max_size=12
)


@given(pairs=st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), context_values))
def test_context_encoding_matches_the_sdk_and_round_trips(pairs: dict[str, str]) -> None:
    encoded = encode_pairs(pairs)
    assert encoded == cloudinary.utils.encode_context(pairs)
    assert decode_pairs(encoded) == pairs


def test_context_list_values_are_json_encoded_like_the_sdk() -> None:
    assert encode_pairs({"perf": ["a", "b"]}) == cloudinary.utils.encode_context(
        {"perf": ["a", "b"]}
    )
