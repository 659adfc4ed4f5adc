"""QUALITY R5: schemathesis fuzzes every ``/v1`` operation in-process with an admin key.

Bounded and derandomised so CI sees the same cases every run. Every check schemathesis has
runs (no 5xx, responses, status codes, content types and ``Allow`` headers as documented,
schema-violating requests refused, keys never ignored) except ``positive_data_acceptance``:
a schema-valid request may still be refused with 422 for what a schema cannot say (an
unknown scheme or concept key, a taxonomy file with a cycle, a rule operator without values).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.media_types import YAML_MEDIA_TYPES
from schemathesis.python.asgi import shutdown_lifespans

from syncbridge.app import create_app
from syncbridge.auth.service import Role
from syncbridge.db import open_store
from syncbridge.models.base import utcnow
from syncbridge.schedule.repository import beat
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import unit_of_work

schema = schemathesis.pytest.from_fixture("api_schema")

#: Boundary values mixed into every generated string, integer and number (issue 7: huge
#: integers, extreme datetimes and offsets, long and look-alike Unicode, extreme floats).
#: Schemathesis keeps an entry only where the mode allows it (schema-valid values in
#: positive cases, violating ones in negative cases), so each reaches the validation edge.
BOUNDARY_VALUES: list[str | int | float] = [
    2**63,
    2**63 - 1,
    -(2**63) - 1,
    10**40,
    -1,
    0,
    1e308,
    -1e308,
    5e-324,
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "1970-01-01T00:00:00Z",
    "ß" * 151,
    "\U0001d518" * 260,
    "e\u0301" * 120,
    "Email\u200b",
    "\ufeffEmail",
    "soft\u00adhyphen",
    "x" * 10_000,
    "\u0000",
    "-" * 300,
    "[" * 300,
]
BOUNDARIES: dict[str, Any] = {
    "dictionaries": {"edges": {"values": BOUNDARY_VALUES}},
    "generation": {
        "dictionaries": {
            kind: {"dictionary": "edges", "probability": 0.25}
            for kind in ("string", "integer", "number")
        }
    },
}


# Registered for every YAML media type: schemathesis picks the first registered match.
@schemathesis.deserializer(*YAML_MEDIA_TYPES)
def yaml_stream(_ctx: schemathesis.DeserializationContext, response: schemathesis.Response) -> str:
    """The export is a YAML stream (one document per scheme), documented as text."""
    text = response.content.decode()
    list(yaml.safe_load_all(text))  # raises, and so fails the check, if it is not YAML
    return text


@pytest.fixture
async def _live_worker(db_url: str) -> None:
    """A worker has beaten: the probes are fuzzed too, and /readyz needs a live worker."""
    async with open_store(db_url) as sessionmaker, unit_of_work(sessionmaker) as session:
        await beat(session, "fuzz-worker", utcnow())


@pytest.fixture
def api_schema(
    settings: Settings, api_keys: dict[Role, str], _live_worker: None
) -> Iterator[schemathesis.BaseSchema]:
    """The app's own OpenAPI document, called with an admin key through its bearer scheme
    (so schemathesis also knows which requests drop the key on purpose). Schemathesis runs
    the app's lifespan itself."""
    config = schemathesis.Config.from_dict(
        {"auth": {"openapi": {"HTTPBearer": {"bearer": api_keys[Role.admin]}}}, **BOUNDARIES}
    )
    # The worker's one beat counts as fresh for the whole run.
    app = create_app(settings.model_copy(update={"ready_heartbeat_max_age_s": 86_400}))
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    yield loaded.include(path_regex="^/v1/")
    shutdown_lifespans()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
