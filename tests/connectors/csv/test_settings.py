"""The spec and the settings a connection is validated by: column maps that cannot mean
two things are refused when the connection is saved, not when a file is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from syncbridge_csv import spec

from syncbridge.connector.errors import InvalidWebhook
from syncbridge.connector.types import Capability, Ref, SystemKind, TagChange
from tests.connectors.csv.support import columns, connector, settings, stream


def test_the_spec_is_an_analytics_connector_taking_uploads_without_secrets() -> None:
    assert spec.key == "csv"
    assert spec.kind is SystemKind.analytics
    assert spec.capabilities == {Capability.read, Capability.incremental, Capability.uploads}
    assert spec.settings_model.secret_fields() == frozenset()
    assert spec.settings_model.url_fields() == frozenset()


def _refused(root: Path, **stream_overrides: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        settings(root, streams={"exports": stream(**stream_overrides)})
    return str(caught.value)


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        ({"field": "d", "type": "date"}, "a date column needs a strptime format"),
        ({"field": "d", "type": "date", "format": "%Y-%m-%d %H:%M"}, "must not read a time"),
        ({"field": "d", "type": "integer", "format": "%d"}, "format applies to date"),
        (
            {"field": "d", "type": "decimal", "decimal_separator": ",", "thousands_separator": ","},
            "must differ",
        ),
        ({"field": "d", "type": "integer", "thousands_separator": "1"}, "part of numbers"),
        ({"field": "d", "type": "datetime", "format": "%H", "timezone": "Mars/Base"}, "time zone"),
        (
            {"field": "d", "type": "boolean", "true_values": ["y"], "false_values": ["Y"]},
            "distinct",
        ),
        ({"field": "d", "kind": "string"}, "Extra inputs are not permitted"),
    ],
)
def test_a_column_declaration_that_cannot_be_read_is_refused(
    root: Path, column: dict[str, Any], reason: str
) -> None:
    assert reason in _refused(root, columns=columns(Date=column))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"primary_key": ["day"]}, "primary_key must name distinct declared fields"),
        ({"primary_key": ["date", "date"]}, "primary_key must name distinct declared fields"),
        ({"columns": columns(Views={"field": "asset"})}, "two columns map to the same field"),
        ({"columns": columns(Views={"field": "_source"})}, "reserved"),
        ({"updated_at_field": "views"}, "updated_at_field must name a date or datetime"),
        ({"encoding": "no-such-codec"}, "unknown encoding"),
        ({"encoding": "hex"}, "is not a text encoding"),
        ({"delimiter": ";;"}, "delimiter is 'auto' or one character"),
        ({"delimiter": '"'}, "delimiter is 'auto' or one character"),
        ({"pattern": [" "]}, "patterns must not be blank"),
        ({"columns": {**columns(), " Owner": {"field": "owner"}}}, "edge spaces"),
    ],
)
def test_a_stream_declaration_that_cannot_be_read_is_refused(
    root: Path, overrides: dict[str, Any], reason: str
) -> None:
    assert reason in _refused(root, **overrides)


@pytest.mark.parametrize("name", ["", "deals/2026", "a b", "déals"])
def test_stream_names_are_plain(root: Path, name: str) -> None:
    with pytest.raises(ValidationError, match="letters, digits"):
        settings(root, streams={name: stream()})


def test_an_encoding_alias_is_stored_under_its_codec_name(root: Path) -> None:
    made = settings(root, streams={"exports": stream(encoding="Latin1")})
    assert made.streams["exports"].encoding == "iso8859-1"


async def test_streams_are_keyed_by_their_fields_and_followed_by_file(root: Path) -> None:
    (declared,) = connector(root).streams()
    assert (declared.name, declared.primary_key, declared.entity) == (
        "exports",
        "date,asset",
        "record",
    )
    assert declared.cursor_field == "_source.file"


async def test_exports_are_read_only_and_send_no_webhooks(root: Path) -> None:
    made = connector(root)
    (outcome,) = await made.write([TagChange("exports", "x", frozenset({"perf:top"}))])
    assert (outcome.status, outcome.retryable) == ("failed", False)
    with pytest.raises(InvalidWebhook):
        await made.parse_webhook({}, b"{}")
    assert await made.fetch([Ref("exports", "missing")]) == []
