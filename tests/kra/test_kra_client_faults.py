"""Retries, fail-fast and error mapping, with faults injected by the replay server."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from kra_graphql.kra import endpoints
from kra_graphql.kra.client import KraClient
from kra_graphql.kra.errors import (
    KraAuthError,
    KraError,
    KraMalformedResponse,
    KraQuotaExceeded,
    KraTimeout,
    KraUpstreamError,
    redact,
)
from kra_graphql.kra.records import Race

from .conftest import Calls, ClientFactory, ReplayServer, running_replay


async def fetch(client: KraClient) -> Race | None:
    return await client.race("20250503", 1, 1)


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("http_500", "http_5xx"),
        ("http_502", "http_5xx"),
        ("http_503", "http_5xx"),
        ("http_504", "http_5xx"),
        ("garbage", "malformed"),
        ("http_429", "rate_limited"),
        ("slow", "timeout"),
    ],
)
async def test_transient_faults_are_retried(
    replay: ReplayServer, make_client: ClientFactory, calls: Calls, kind: str, outcome: str
) -> None:
    await replay.fault(kind, count=2)
    race = await fetch(make_client(replay, timeout_s=0.3))
    assert race is not None
    assert race.has_results
    assert calls.outcomes == [outcome, outcome, "ok"]


async def test_transient_result_codes_are_retried(
    replay: ReplayServer, make_client: ClientFactory, calls: Calls
) -> None:
    await replay.fault("result_code", code="99")
    await replay.fault("result_code", code="23")
    assert await fetch(make_client(replay)) is not None
    assert calls.outcomes == ["upstream_error", "quota_exceeded", "ok"]


@pytest.mark.parametrize(
    ("kind", "error", "retryable"),
    [
        ("http_503", KraUpstreamError, True),
        ("garbage", KraMalformedResponse, True),
        ("http_429", KraQuotaExceeded, True),
    ],
)
async def test_retries_run_out(
    replay: ReplayServer,
    make_client: ClientFactory,
    calls: Calls,
    kind: str,
    error: type[KraError],
    retryable: bool,
) -> None:
    await replay.fault(kind, count=4)
    with pytest.raises(error) as caught:
        await fetch(make_client(replay, max_attempts=4))
    assert caught.value.retryable is retryable
    assert len(calls.outcomes) == 4
    assert (await replay.stats())["calls"][endpoints.RACE_DETAIL] == 4


async def test_timeouts_run_out(
    replay: ReplayServer, make_client: ClientFactory, calls: Calls
) -> None:
    await replay.fault("slow", count=2)
    with pytest.raises(KraTimeout) as caught:
        await fetch(make_client(replay, max_attempts=2, timeout_s=0.2))
    assert caught.value.retryable
    assert calls.outcomes == ["timeout", "timeout"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "http_401"}, KraAuthError),
        ({"kind": "http_403"}, KraAuthError),
        ({"kind": "result_code", "code": "30"}, KraAuthError),
        ({"kind": "result_code", "code": "31"}, KraAuthError),
        ({"kind": "result_code", "code": "22"}, KraQuotaExceeded),
        ({"kind": "result_code", "code": "10"}, KraUpstreamError),
    ],
)
async def test_permanent_errors_fail_fast(
    replay: ReplayServer,
    make_client: ClientFactory,
    calls: Calls,
    fault: dict[str, Any],
    error: type[KraError],
) -> None:
    await replay.admin("POST", "faults", {**fault, "count": 3})
    with pytest.raises(error) as caught:
        await fetch(make_client(replay))
    assert not caught.value.retryable
    assert len(calls.outcomes) == 1
    assert (await replay.stats())["calls"][endpoints.RACE_DETAIL] == 1


async def test_retry_after_is_honoured(
    replay: ReplayServer, make_client: ClientFactory, calls: Calls
) -> None:
    await replay.fault("http_429", retry_after=0.4)
    started = time.monotonic()
    assert await fetch(make_client(replay, backoff_max_s=1.0)) is not None
    assert time.monotonic() - started >= 0.4
    assert calls.outcomes == ["rate_limited", "ok"]


async def test_a_retry_after_beyond_the_backoff_ceiling_is_not_waited_for(
    replay: ReplayServer, make_client: ClientFactory, calls: Calls
) -> None:
    await replay.fault("http_429", retry_after=120)
    started = time.monotonic()
    with pytest.raises(KraQuotaExceeded):
        await fetch(make_client(replay, backoff_max_s=1.0))
    assert time.monotonic() - started < 5
    assert calls.outcomes == ["rate_limited"]


async def test_no_data_is_none_without_retries(
    replay: ReplayServer, make_client: ClientFactory, calls: Calls
) -> None:
    await replay.fault("result_code", code="03")
    assert await fetch(make_client(replay)) is None
    assert calls.outcomes == ["no_data"]


async def test_the_server_rate_limit_is_waited_out(
    http: httpx.AsyncClient, make_client: ClientFactory, calls: Calls
) -> None:
    async with running_replay(http, rate_limit_per_min=2, rate_window_s=0.5) as server:
        client = make_client(server, backoff_max_s=2.0)
        for number in (1, 2, 3):
            assert await client.race("20250503", 1, number) is not None
    assert calls.outcomes.count("ok") == 3
    assert "rate_limited" in calls.outcomes


@pytest.mark.parametrize("good_key", ["k+y/=", "k%2By%2F%3D"])
async def test_service_key_plain_or_url_encoded(
    http: httpx.AsyncClient, make_client: ClientFactory, good_key: str
) -> None:
    async with running_replay(http, require_key="k+y/=") as server:
        assert await fetch(make_client(server, api_key=good_key)) is not None


@pytest.mark.parametrize("bad_key", [None, "wrong-key"])
async def test_a_wrong_key_fails_fast_and_is_never_shown(
    http: httpx.AsyncClient, make_client: ClientFactory, calls: Calls, bad_key: str | None
) -> None:
    async with running_replay(http, require_key="right-key") as server:
        with capture_logs() as logs, pytest.raises(KraAuthError) as caught:
            await fetch(make_client(server, api_key=bad_key))
        assert (await server.stats())["total_calls"] == 1
    assert caught.value.code == "30"
    assert calls.outcomes == ["auth_error"]
    if bad_key:
        assert bad_key not in str(caught.value)
        assert bad_key not in repr(logs)


def test_keys_are_redacted_from_urls() -> None:
    url = "https://apis.data.go.kr/B551015/API8_2/raceHorseInfo_2?serviceKey=abc%2B&hr_no=1"
    assert (
        redact(url)
        == "https://apis.data.go.kr/B551015/API8_2/raceHorseInfo_2?serviceKey=***&hr_no=1"
    )
    assert "abc" not in str(KraUpstreamError(f"failed: {url}"))
    assert redact("ServiceKey=xyz") == "ServiceKey=***"


async def test_a_failing_metrics_hook_does_not_break_calls(
    replay: ReplayServer, make_client: ClientFactory
) -> None:
    def broken(endpoint: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    assert await fetch(make_client(replay, on_call=broken)) is not None


async def test_an_unreachable_server_is_an_upstream_error(
    make_client: ClientFactory, calls: Calls, replay: ReplayServer
) -> None:
    client = make_client(replay, base_url="http://127.0.0.1:9", max_attempts=2)
    with pytest.raises(KraUpstreamError) as caught:
        await fetch(client)
    assert caught.value.retryable
    assert calls.outcomes == ["transport_error", "transport_error"]


async def test_random_faults_are_survived(
    http: httpx.AsyncClient, make_client: ClientFactory, calls: Calls
) -> None:
    async with running_replay(http) as clean:
        expected = await make_client(clean).races("20250504", 3)
    calls.seen.clear()
    async with running_replay(http, fail_rate=0.4, seed=11, slow_s=0.3) as flaky:
        client = make_client(flaky, max_attempts=12, timeout_s=0.1, backoff_max_s=0.02)
        numbers = await client.race_numbers("20250504", 3)
        got = [await client.race("20250504", 3, number) for number in numbers]
        stats = await flaky.stats()
    assert got == expected
    failures = [o for o in calls.outcomes if o != "ok"]
    assert failures, "the seed should have produced faults"
    assert sum(stats["outcomes"].values()) == stats["total_calls"]


async def test_the_key_stays_out_of_http_library_logs(
    http: httpx.AsyncClient, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_replay(http, require_key="very-secret-key") as server:
        with caplog.at_level(logging.DEBUG):
            assert await fetch(make_client(server, api_key="very-secret-key")) is not None
    assert "serviceKey=***" in caplog.text
    assert "very-secret-key" not in caplog.text
