"""VendorHttp against scripted vendor answers: error mapping, retries, Retry-After, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from syncbridge.connector import metrics
from syncbridge.connector.errors import (
    AuthError,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from syncbridge.connector.http import RetryPolicy, VendorHttp, create_http_client
from syncbridge.connector.ratelimit import AdaptiveRateLimiter, RateLimitPolicy
from syncbridge.connector.testing import FakeClock

TOKEN = "tok-very-secret-123"
Answer = httpx.Response | Exception


class Vendor:
    """A scripted vendor: answers in order, the last one repeats; records what it was sent."""

    def __init__(self, *answers: Answer, clock: FakeClock) -> None:
        self.answers = list(answers)
        self.clock = clock
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(self.clock())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


MakeHttp = Callable[..., tuple[VendorHttp, "Vendor"]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_http(clock: FakeClock) -> AsyncIterator[MakeHttp]:
    clients: list[httpx.AsyncClient] = []

    def make(
        *answers: Answer, key: str = "scripted", attempts: int = 5
    ) -> tuple[VendorHttp, Vendor]:
        vendor = Vendor(*answers, clock=clock)
        client = create_http_client(transport=httpx.MockTransport(vendor))
        clients.append(client)
        limiter = AdaptiveRateLimiter(
            RateLimitPolicy(100, 10.0), clock=clock, sleep=clock.sleep, wall_clock=clock.wall
        )
        http = VendorHttp(
            client,
            base_url="https://vendor.example/api/v4",
            connector_key=key,
            limiter=limiter,
            retry=RetryPolicy(attempts=attempts, base_s=0.5, max_s=8.0),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        return http, vendor

    yield make
    for client in clients:
        await client.aclose()


def ok(body: object = None) -> httpx.Response:
    return httpx.Response(200, json={"ok": True} if body is None else body)


def test_shared_client_has_explicit_timeouts_and_no_redirects() -> None:
    client = create_http_client()
    assert client.timeout == httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
    assert client.follow_redirects is False


async def test_paths_join_the_base_url_and_headers_are_sent(make_http: MakeHttp) -> None:
    http, vendor = make_http(ok([1, 2]))
    assert await http.get_json("/media/", params={"page": 2}) == [1, 2]
    sent = vendor.requests[0]
    assert str(sent.url) == "https://vendor.example/api/v4/media/?page=2"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"


async def test_after_a_429_with_retry_after_2_the_next_call_waits_2s(make_http: MakeHttp) -> None:
    http, vendor = make_http(httpx.Response(429, headers={"Retry-After": "2"}), ok())
    await http.get_json("media")
    assert len(vendor.times) == 2
    assert vendor.times[1] - vendor.times[0] >= 2.0


async def test_a_429_without_retry_after_waits_the_floor(make_http: MakeHttp) -> None:
    http, vendor = make_http(
        httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(429), ok()
    )
    await http.get_json("media")
    gaps = [b - a for a, b in zip(vendor.times, vendor.times[1:], strict=False)]
    assert len(gaps) == 2
    assert all(gap >= 1.0 for gap in gaps)


async def test_a_420_with_an_http_date_is_a_rate_limit(
    make_http: MakeHttp, clock: FakeClock
) -> None:
    until = format_datetime(datetime.fromtimestamp(clock.wall() + 30, UTC), usegmt=True)
    http, vendor = make_http(httpx.Response(420, headers={"Retry-After": until}), ok())
    await http.get_json("media")
    assert vendor.times[1] - vendor.times[0] >= 30.0


async def test_rate_limits_count_and_the_last_error_is_raised(make_http: MakeHttp) -> None:
    labels = {"connector": "ratelimited-test"}
    before = metrics.registry.get_sample_value("syncbridge_vendor_rate_limited_total", labels) or 0
    http, vendor = make_http(
        httpx.Response(429, headers={"Retry-After": "5"}), key="ratelimited-test", attempts=3
    )
    with pytest.raises(RateLimited) as caught:
        await http.get_json("media")
    assert caught.value.retry_after == 5.0
    assert len(vendor.requests) == 3
    after = metrics.registry.get_sample_value("syncbridge_vendor_rate_limited_total", labels)
    assert after == before + 3
    calls = {"connector": "ratelimited-test", "status": "429"}
    assert metrics.registry.get_sample_value("syncbridge_vendor_calls_total", calls) == 3


async def test_5xx_is_retried_with_full_jitter_backoff(
    make_http: MakeHttp, clock: FakeClock
) -> None:
    http, vendor = make_http(httpx.Response(503), httpx.Response(502), httpx.Response(500), ok())
    assert await http.get_json("media") == {"ok": True}
    assert len(vendor.requests) == 4
    assert len(clock.slept) == 3
    for attempt, slept in enumerate(clock.slept):
        assert 0.0 <= slept <= min(8.0, 0.5 * 2**attempt)


class BudgetSpent(RateLimited):
    """A rate limit no retry within the call can cure (a spent daily budget)."""

    retry_in_call = False


async def test_a_rate_limit_not_retried_in_the_call_fails_it_at_once(make_http: MakeHttp) -> None:
    # Raised while the call runs (as a connector's limiter does on a daily-limit 429).
    http, vendor = make_http(BudgetSpent("budget spent", retry_after=900.0), ok())
    with pytest.raises(BudgetSpent) as caught:
        await http.get_json("media")
    assert len(vendor.requests) == 1
    assert caught.value.retry_after == 900.0


async def test_5xx_after_the_last_attempt_raises_transient(make_http: MakeHttp) -> None:
    http, vendor = make_http(httpx.Response(503), attempts=4)
    with pytest.raises(TransientConnectorError, match="HTTP 503"):
        await http.get_json("media")
    assert len(vendor.requests) == 4


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut")],
)
async def test_transport_failures_are_transient_and_retried(
    make_http: MakeHttp, failure: Exception
) -> None:
    http, vendor = make_http(failure, ok())
    assert await http.get_json("media") == {"ok": True}
    assert len(vendor.requests) == 2


async def test_timeouts_to_the_end_raise_transient_chained(make_http: MakeHttp) -> None:
    http, _ = make_http(httpx.ReadTimeout("slow"), attempts=2)
    with pytest.raises(TransientConnectorError, match="timed out") as caught:
        await http.get_json("media")
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_refusals_are_not_retried(make_http: MakeHttp, status: int) -> None:
    http, vendor = make_http(httpx.Response(status, json={"error": TOKEN}))
    with pytest.raises(AuthError) as caught:
        await http.get_json("media", params={"api_key": TOKEN})
    assert len(vendor.requests) == 1
    assert TOKEN not in caught.value.detail


@pytest.mark.parametrize("status", [400, 404, 409, 302])
async def test_other_refusals_are_permanent_and_not_retried(
    make_http: MakeHttp, status: int
) -> None:
    answer = httpx.Response(status, headers={"Location": "http://169.254.169.254/"})
    http, vendor = make_http(answer)
    with pytest.raises(PermanentConnectorError) as caught:
        await http.request("GET", "media/x", params={"api_key": TOKEN})
    assert len(vendor.requests) == 1
    assert f"HTTP {status}" in caught.value.detail
    assert TOKEN not in caught.value.detail


async def test_allowed_statuses_are_returned(make_http: MakeHttp) -> None:
    http, _ = make_http(httpx.Response(404, json={"error": "gone"}))
    response = await http.request("GET", "media/x", allow_status={404})
    assert response.status_code == 404


async def test_garbage_body_is_a_permanent_error(make_http: MakeHttp) -> None:
    http, _ = make_http(httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(PermanentConnectorError, match="garbage"):
        await http.get_json("media")


async def test_form_data_and_json_bodies_are_sent(make_http: MakeHttp) -> None:
    http, vendor = make_http(httpx.Response(202), httpx.Response(201, json={}))
    await http.request("POST", "media/1/", data={"tags": "a,b"})
    await http.request("POST", "media/2/", json={"tags": ["a"]})
    assert vendor.requests[0].content == b"tags=a%2Cb"
    assert vendor.requests[1].content == b'{"tags":["a"]}'


async def test_a_same_origin_absolute_url_is_followed(make_http: MakeHttp) -> None:
    http, vendor = make_http(ok([]))
    await http.get_json("https://vendor.example/api/v4/media/?page=3")
    assert vendor.requests[0].url.params["page"] == "3"


async def test_another_origin_is_refused_without_a_call(make_http: MakeHttp) -> None:
    http, vendor = make_http(ok())
    with pytest.raises(PermanentConnectorError, match="another origin"):
        await http.get_json("https://attacker.example/steal")
    assert vendor.requests == []
