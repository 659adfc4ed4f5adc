"""HubSpot connection settings: defaults, bounds, secrets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from syncbridge_hubspot.settings import HubSpotSettings

BASE: dict[str, Any] = {"access_token": "pat-na1-0000"}


def test_defaults_read_what_mapping_and_linking_need() -> None:
    settings = HubSpotSettings(**BASE)
    assert settings.base_url == "https://api.hubapi.com"
    assert (settings.page_size, settings.search_page_size) == (100, 200)
    assert settings.webhook_signature_versions == ["v3"]
    assert settings.webhook_tolerance_s == 300
    assert {"email", "lifecyclestage", "hs_analytics_first_touch_converting_campaign"} <= set(
        settings.contact_properties
    )
    assert {"dealname", "amount", "dealstage", "closedate"} <= set(settings.deal_properties)
    assert {"hs_name", "hs_utm", "hs_start_date"} <= set(settings.campaign_properties)
    assert settings.properties_of("deals").count("hs_campaign") == 1


def test_credentials_are_secrets_and_the_base_url_is_called() -> None:
    assert HubSpotSettings.secret_fields() == {"access_token", "client_secret"}
    assert HubSpotSettings.url_fields() == {"base_url"}
    settings = HubSpotSettings(**BASE, client_secret="s3cret")
    assert isinstance(settings.client_secret, SecretStr)
    assert "pat-na1-0000" not in repr(settings)
    assert "s3cret" not in repr(settings)


def test_a_deal_campaign_property_is_added_once() -> None:
    settings = HubSpotSettings(**BASE, deal_properties=["dealname", "hs_campaign"])
    assert settings.properties_of("deals") == ["dealname", "hs_campaign"]
    assert HubSpotSettings(**BASE, deal_campaign_property=None).properties_of("deals")[-1] != (
        "hs_campaign"
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"page_size": 101},
        {"page_size": 0},
        {"search_page_size": 201},
        {"search_result_cap": 10_001},
        {"webhook_tolerance_s": 0},
        {"webhook_tolerance_s": float("nan")},
        {"rate_limit_requests": 0},
        {"search_rate_limit_per_s": 0},
        {"access_token": ""},
        {"access_token": "pat\nna1"},
        {"client_secret": "a\tb"},
        {"base_url": "ftp://api.hubapi.com"},
        {"contact_properties": []},
        {"contact_properties": ["email", "drop table;"]},
        {"deal_campaign_property": "hs campaign"},
        {"deal_associations": ["Contacts!"]},
        {"campaign_asset_types": ["external_web_url"]},
        {"webhook_signature_versions": []},
        {"webhook_signature_versions": ["v4"]},
        {"portal_id": 0},
        {"unknown_setting": 1},
    ],
)
def test_unsafe_or_impossible_values_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HubSpotSettings(**{**BASE, **overrides})
