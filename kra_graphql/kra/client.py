"""Async client of the KRA public data API (data.go.kr B551015), or of the replay server.

Every HTTP attempt goes through the shared rate limiter, is logged (never with the key)
and reported to the optional `on_call` hook. 429, 5xx, timeouts, transport errors,
malformed bodies and transient result codes are retried with exponential backoff and
full jitter, honouring `Retry-After`; key problems fail at once; "no data" is None.

`on_call(endpoint, outcome, seconds)` is called once per HTTP attempt with one of the
outcomes "ok", "no_data", "timeout", "transport_error", "rate_limited" (HTTP 429),
"quota_exceeded", "auth_error", "malformed", "http_5xx" and "upstream_error".
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

import httpx
import structlog

from kra_graphql.kra import endpoints, parsing
from kra_graphql.kra.errors import (
    KraAuthError,
    KraError,
    KraMalformedResponse,
    KraNoData,
    KraQuotaExceeded,
    KraTimeout,
    KraUpstreamError,
    redact,
)
from kra_graphql.kra.parsing import Item, Page
from kra_graphql.kra.ratelimit import RateLimiter
from kra_graphql.kra.records import (
    HorseDetail,
    JockeyDetail,
    Race,
    RacePlanEntry,
    Scratching,
    TrainerDetail,
)

OnCall = Callable[[str, str, float], None]

log = structlog.get_logger("kra_graphql.kra.client")


class _RedactServiceKey(logging.Filter):
    """httpx logs every request URL at INFO, service key included; hide the key."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _RedactServiceKey) for f in _httpx_log.filters):
    _httpx_log.addFilter(_RedactServiceKey())

# Rows asked per page. RaceDetailResult has one item per runner (at most 16 a race).
_PAGE_SIZES: dict[str, int] = {
    endpoints.RACE_DETAIL: 50,
    endpoints.RACE_PLAN: 50,
    endpoints.HORSE: 10,
    endpoints.JOCKEY: 10,
    endpoints.TRAINER: 10,
    endpoints.SCRATCHINGS: 50,
}
# Guards against an upstream whose totalCount never stops growing.
MAX_PAGES = 100
# Guards the race-number probe against an upstream that answers every number.
MAX_RACES_PER_DAY = 40


class KraClient:
    """Typed access to the KRA endpoints this application uses.

    The `httpx.AsyncClient` is created once per process by the caller and shared.
    `page_size` overrides the rows asked per page for every endpoint.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        http: httpx.AsyncClient,
        rate_limiter: RateLimiter | None = None,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        timeout_s: float = 15.0,
        on_call: OnCall | None = None,
        page_size: int | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._base_url = base_url.rstrip("/")
        # data.go.kr hands out the key both URL-encoded and plain; httpx encodes it once.
        self._api_key = unquote(api_key) if api_key and "%" in api_key else api_key
        self._http = http
        self._limiter = rate_limiter
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._timeout_s = timeout_s
        self._on_call = on_call
        self._page_size = page_size
        self._random = random.Random()  # noqa: S311 - jitter, not cryptography

    # --- public API --------------------------------------------------------------------

    async def race(self, race_date: date | str, meet: int, race_number: int) -> Race | None:
        """One race with its runners (results once published); None when unknown."""
        day = _as_date(race_date)
        params = {"meet": meet, "rc_date": _yyyymmdd(day), "rc_no": race_number}
        items = await self._fetch_all(endpoints.RACE_DETAIL, params)
        if items is None:
            return None
        return parsing.race_from_items(items, race_date=day, meet=meet, race_number=race_number)

    async def races(self, race_date: date | str, meet: int) -> list[Race]:
        """Every race of one day at one meet, from a single paginated query."""
        day = _as_date(race_date)
        params = {"meet": meet, "rc_date": _yyyymmdd(day)}
        items = await self._fetch_all(endpoints.RACE_DETAIL, params)
        return parsing.races_from_items(items or [], race_date=day, meet=meet)

    async def race_plan(self, race_date: date | str, meet: int) -> list[RacePlanEntry]:
        day = _as_date(race_date)
        params = {"meet": meet, "rc_date": _yyyymmdd(day)}
        items = await self._fetch_all(endpoints.RACE_PLAN, params)
        entries = parsing.plan_from_items(items or [])
        return [e for e in entries if e.race_date == day and e.meet == meet]

    async def month_plan(self, year: int, month: int, meet: int) -> list[RacePlanEntry]:
        """Every race scheduled in one month at one meet: a season is planned from a
        dozen of these instead of one call per calendar day."""
        params = {"meet": meet, "rc_month": f"{year:04d}{month:02d}"}
        items = await self._fetch_all(endpoints.RACE_PLAN, params)
        entries = parsing.plan_from_items(items or [])
        return [
            e
            for e in entries
            if e.meet == meet and (e.race_date.year, e.race_date.month) == (year, month)
        ]

    async def race_numbers(self, race_date: date | str, meet: int) -> list[int]:
        """The race numbers run (or to be run) on one day at one meet.

        From the race plan; when the plan has nothing (or the key is not approved for
        it), by probing RaceDetailResult from race 1 upwards until the first number
        without data.
        """
        day = _as_date(race_date)
        try:
            plan = await self.race_plan(day, meet)
        except KraAuthError as exc:
            # A data.go.kr key is approved per service; the plan may be the one missing.
            log.warning("kra_race_plan_unavailable", meet=meet, date=str(day), error=str(exc))
            plan = []
        if plan:
            return sorted({entry.race_number for entry in plan})
        numbers: list[int] = []
        for number in range(1, MAX_RACES_PER_DAY + 1):
            if not await self._race_exists(day, meet, number):
                break
            numbers.append(number)
        return numbers

    async def horse(self, horse_no: str) -> HorseDetail | None:
        wanted = horse_no.strip().zfill(parsing.HORSE_NO_WIDTH)
        items = await self._fetch_all(endpoints.HORSE, {"hr_no": wanted})
        return parsing.horse_from_items(items, wanted) if items else None

    async def jockey(self, jockey_no: str) -> JockeyDetail | None:
        wanted = jockey_no.strip().zfill(parsing.PERSON_NO_WIDTH)
        items = await self._fetch_all(endpoints.JOCKEY, {"jk_no": wanted})
        return parsing.jockey_from_items(items, wanted) if items else None

    async def trainer(self, trainer_no: str) -> TrainerDetail | None:
        wanted = trainer_no.strip().zfill(parsing.PERSON_NO_WIDTH)
        items = await self._fetch_all(endpoints.TRAINER, {"tr_no": wanted})
        return parsing.trainer_from_items(items, wanted) if items else None

    async def scratchings(self, race_date: date | str, meet: int) -> list[Scratching]:
        """Runners withdrawn before their race on one day at one meet."""
        day = _as_date(race_date)
        params = {"meet": meet, "rc_date": _yyyymmdd(day)}
        items = await self._fetch_all(endpoints.SCRATCHINGS, params)
        found = parsing.scratchings_from_items(items or [])
        return [s for s in found if s.race_date == day and s.meet == meet]

    # --- pagination --------------------------------------------------------------------

    async def _race_exists(self, day: date, meet: int, number: int) -> bool:
        params = {"meet": meet, "rc_date": _yyyymmdd(day), "rc_no": number}
        try:
            page = await self._request(
                endpoints.RACE_DETAIL, {**params, "numOfRows": 1, "pageNo": 1}
            )
        except KraNoData:
            return False
        return bool(page.items) or bool(page.total_count)

    async def _fetch_all(self, endpoint: str, params: Mapping[str, object]) -> list[Item] | None:
        """Every item of every page; None when the API has no data."""
        size = self._page_size or _PAGE_SIZES[endpoint]
        items: list[Item] = []
        for page_no in range(1, MAX_PAGES + 1):
            try:
                page = await self._request(
                    endpoint, {**params, "numOfRows": size, "pageNo": page_no}
                )
            except KraNoData:
                if page_no == 1:
                    return None
                break
            items.extend(page.items)
            total = page.total_count
            if not page.items or (total is not None and len(items) >= total):
                break
            if total is None and len(page.items) < size:
                break
        return items

    # --- one request, retried ------------------------------------------------------------

    async def _request(self, endpoint: str, params: Mapping[str, object]) -> Page:
        query: dict[str, str | int] = {"_type": "json"}
        query.update({k: str(value) for k, value in params.items()})
        if self._api_key:
            query["serviceKey"] = self._api_key
        url = f"{self._base_url}/{endpoint}"
        for attempt in range(1, self._max_attempts + 1):
            if self._limiter is not None:
                await self._limiter.acquire()
            started = time.monotonic()
            status: int | None = None
            retry_after: float | None = None
            try:
                response = await self._http.get(url, params=query, timeout=self._timeout_s)
            except httpx.TimeoutException:
                outcome = "timeout"
                error: KraError = KraTimeout(
                    f"no answer within {self._timeout_s:g}s", endpoint=endpoint
                )
            except httpx.TransportError as exc:
                outcome = "transport_error"
                error = KraUpstreamError(
                    f"transport error: {type(exc).__name__}: {exc}",
                    endpoint=endpoint,
                    retryable=True,
                )
            else:
                status = response.status_code
                retry_after = _retry_after(response.headers.get("Retry-After"))
                try:
                    page = _read_response(response, endpoint)
                except KraError as exc:
                    error = exc
                    outcome = _outcome(exc)
                else:
                    self._report(endpoint, "ok", started, attempt, status, params)
                    return page
            self._report(endpoint, outcome, started, attempt, status, params)
            if not error.retryable or attempt == self._max_attempts:
                raise error
            delay = self._delay(attempt, retry_after)
            if delay is None:
                raise error
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Full-jitter backoff, or the server's Retry-After; None when that is too long."""
        ceiling = min(self._backoff_max_s, self._backoff_base_s * 2 ** (attempt - 1))
        jittered = self._random.uniform(0, ceiling)
        if retry_after is None:
            return jittered
        if retry_after > self._backoff_max_s:
            # Waiting minutes inside one call would pin a worker; the caller may retry later.
            return None
        return max(retry_after, jittered)

    def _report(
        self,
        endpoint: str,
        outcome: str,
        started: float,
        attempt: int,
        status: int | None,
        params: Mapping[str, object],
    ) -> None:
        seconds = time.monotonic() - started
        log_method = log.debug if outcome in ("ok", "no_data") else log.warning
        log_method(
            "kra_call",
            endpoint=endpoint,
            outcome=outcome,
            attempt=attempt,
            http_status=status,
            seconds=round(seconds, 4),
            params={k: value for k, value in params.items() if k.lower() != "servicekey"},
        )
        if self._on_call is not None:
            try:
                self._on_call(endpoint, outcome, seconds)
            except Exception:  # a metrics hook must never break a call
                log.exception("kra_on_call_hook_failed", endpoint=endpoint)


def _read_response(response: httpx.Response, endpoint: str) -> Page:
    """The page in a response, or the KraError it stands for."""
    status = response.status_code
    body = response.text
    if status in (401, 403):
        found = parsing.gateway_error(body, endpoint=endpoint)
        if isinstance(found, KraAuthError | KraQuotaExceeded):
            raise found
        raise KraAuthError(f"HTTP {status}", status=status, endpoint=endpoint)
    if status == 429:
        raise KraQuotaExceeded("HTTP 429", status=status, endpoint=endpoint, retryable=True)
    if status >= 500:
        raise KraUpstreamError(f"HTTP {status}", status=status, endpoint=endpoint, retryable=True)
    try:
        payload: Any = json.loads(body)
    except ValueError:
        payload = None
    if payload is None:
        found = parsing.gateway_error(body, endpoint=endpoint)
        if found is not None:
            found.status = status
            raise found
        if status >= 400:
            raise KraUpstreamError(f"HTTP {status}", status=status, endpoint=endpoint)
        raise KraMalformedResponse(f"body is not JSON: {body[:80]!r}", endpoint=endpoint)
    return parsing.read_page(payload, endpoint=endpoint)


def _outcome(error: KraError) -> str:
    if isinstance(error, KraNoData):
        return "no_data"
    if isinstance(error, KraAuthError):
        return "auth_error"
    if isinstance(error, KraQuotaExceeded):
        return "rate_limited" if error.status == 429 else "quota_exceeded"
    if isinstance(error, KraMalformedResponse):
        return "malformed"
    if isinstance(error, KraUpstreamError) and error.status is not None and error.status >= 500:
        return "http_5xx"
    return "upstream_error"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _as_date(value: date | str) -> date:
    if isinstance(value, date):
        return value
    digits = value.strip().replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        raise ValueError(f"not a date: {value!r}")
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def _yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")
