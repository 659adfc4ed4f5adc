"""GA4 settings: the key file checked when saved with clear errors that never echo it."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError
from syncbridge_ga4 import Ga4Settings
from syncbridge_ga4.service_account import GOOGLE_TOKEN_URI

from .support import account

KEY_FILE = account().key_file(token_uri=GOOGLE_TOKEN_URI)
#: A distinctive slice of the private key: must never appear in an error.
KEY_MARK = KEY_FILE["private_key"].splitlines()[5]


def settings(**overrides: Any) -> Ga4Settings:
    values: dict[str, Any] = {
        "property_id": "123456789",
        "service_account_json": json.dumps(KEY_FILE),
        **overrides,
    }
    return Ga4Settings(**values)


def refusal(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        settings(**overrides)
    text = str(caught.value)
    assert KEY_MARK not in text
    for error in caught.value.errors(include_input=False):
        assert KEY_MARK not in str(error)
    return text


def test_defaults_read_asset_performance_from_google() -> None:
    s = settings()
    assert s.base_url == "https://analyticsdata.googleapis.com"
    assert s.token_endpoint() == GOOGLE_TOKEN_URI
    assert s.page_size == 10_000
    assert s.lookback_days == 3
    assert s.start_expression() == "90daysAgo"
    report = s.reports["asset_performance"]
    assert report.dimensions[0] == "date"
    assert "customEvent:asset_id" in report.dimensions
    assert report.metrics == [
        "screenPageViews",
        "sessions",
        "eventCount",
        "keyEvents",
        "totalRevenue",
    ]
    assert s.service_account().client_email == account().client_email


def test_the_key_file_is_a_secret_and_the_urls_are_ssrf_checked() -> None:
    assert Ga4Settings.secret_fields() == {"service_account_json"}
    assert Ga4Settings.url_fields() == {"base_url", "token_url"}
    assert KEY_MARK not in repr(settings())
    assert KEY_MARK not in repr(settings().service_account())


@pytest.mark.parametrize(
    ("key_file", "reason"),
    [
        ("not json at all -----BEGIN PRIVATE KEY-----", "is not JSON"),
        (json.dumps(["a", "list"]), "is not a JSON object"),
        (json.dumps({**KEY_FILE, "type": "authorized_user"}), "is not a service-account key"),
        (json.dumps({k: v for k, v in KEY_FILE.items() if k != "client_email"}), "client_email"),
        (json.dumps({**KEY_FILE, "private_key": KEY_FILE["private_key"][:200]}), "private_key"),
        (json.dumps({**KEY_FILE, "token_uri": "ftp://x"}), "token_uri"),
        ("x" * 70_000, "too large"),
    ],
)
def test_a_bad_key_file_is_refused_clearly_without_echoing_it(key_file: str, reason: str) -> None:
    assert reason in refusal(service_account_json=key_file)


def test_the_private_key_is_never_echoed_even_in_the_wrong_field() -> None:
    text = refusal(property_id=KEY_FILE["private_key"])
    assert "property_id" in text


def test_a_foreign_token_uri_needs_an_explicit_token_url() -> None:
    foreign = json.dumps({**KEY_FILE, "token_uri": "https://collector.example/token"})
    assert "token_url" in refusal(service_account_json=foreign)
    s = settings(service_account_json=foreign, token_url="https://sim.example/token")
    assert s.token_endpoint() == "https://sim.example/token"


@pytest.mark.parametrize("value", ["properties/987", " 987 "])
def test_property_ids_are_normalised_to_digits(value: str) -> None:
    assert settings(property_id=value).property_id == "987"


@pytest.mark.parametrize("value", ["abc", "12-34", "", "1" * 21])
def test_property_ids_must_be_digits(value: str) -> None:
    assert "numeric GA4 property id" in refusal(property_id=value)


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ({"dimensions": ["pagePath"], "metrics": ["sessions"]}, "must include 'date'"),
        ({"dimensions": ["date", "date"], "metrics": ["sessions"]}, "must not repeat"),
        ({"dimensions": ["date", "page path"], "metrics": ["sessions"]}, "not a GA4 API name"),
        ({"dimensions": ["date"], "metrics": []}, "at least 1"),
        (
            {"dimensions": ["date", *[f"d{i}" for i in range(9)]], "metrics": ["sessions"]},
            "at most 9",
        ),
        ({"dimensions": ["date"], "metrics": ["sessions"], "dimension_filter": {}}, "exactly one"),
        ({"dimensions": ["date"], "metrics": ["sessions"], "colour": "red"}, "Extra inputs"),
    ],
)
def test_bad_reports_are_refused(report: dict[str, Any], reason: str) -> None:
    assert reason in refusal(reports={"perf": report})


def test_a_deeply_nested_dimension_filter_is_refused() -> None:
    deep: dict[str, Any] = {"filter": {"fieldName": "pagePath"}}
    for _ in range(20):
        deep = {"notExpression": deep}
    report = {"dimensions": ["date"], "metrics": ["sessions"], "dimension_filter": deep}
    assert "nested deeper" in refusal(reports={"perf": report})


@pytest.mark.parametrize("name", ["Perf", "1perf", "perf-x", "p" * 65])
def test_stream_names_are_identifiers(name: str) -> None:
    report = {"dimensions": ["date"], "metrics": ["sessions"]}
    assert "report name" in refusal(reports={name: report})


@pytest.mark.parametrize(
    ("value", "ok"), [(1, True), (250_000, True), (0, False), (250_001, False)]
)
def test_page_size_is_bounded_by_ga4s_row_limit(value: int, ok: bool) -> None:
    if ok:
        assert settings(page_size=value).page_size == value
    else:
        refusal(page_size=value)


def test_start_date_is_a_day_or_days_back() -> None:
    assert settings(start_date="2026-09-01").start_expression() == "2026-09-01"
    assert settings(start_date=date(2026, 9, 1)).start_date == date(2026, 9, 1)
    assert settings(start_date=0).start_expression() == "today"
    assert settings(start_date=30).start_expression() == "30daysAgo"
    assert "GA4's first day" in refusal(start_date="2010-01-01")
    assert "days back" in refusal(start_date=5000)


@pytest.mark.parametrize(
    ("field", "value"),
    [("lookback_days", -1), ("lookback_days", 61), ("quota_max_wait_s", float("inf"))],
)
def test_numbers_are_bounded(field: str, value: float) -> None:
    refusal(**{field: value})


@pytest.mark.parametrize("url", ["ftp://x", "https://x/?q=1", "not a url"])
def test_urls_must_be_http(url: str) -> None:
    assert "http(s) URL" in refusal(base_url=url)
