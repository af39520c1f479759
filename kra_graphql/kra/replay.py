"""A local stand-in for the KRA public data API, answering from recorded fixtures.

Same URL paths, query parameters and envelopes as data.go.kr B551015 (also under a
`/B551015` prefix), including its quirks: `item` is an object when exactly one item is
on the page, pagination follows `numOfRows` / `pageNo` / `totalCount`, unknown ids answer
resultCode 03. It can hold race results back (answering the pre-race view until released),
require a service key, rate-limit, and inject faults at random or on request. Answers
are always JSON (`_type` is accepted and ignored).

Admin endpoints for tests and demos:

- `POST /_admin/release`, `POST /_admin/hold` with JSON `{date, meet, race_number}`;
  omitted fields match everything.
- `POST /_admin/faults` with JSON `{kind, count, endpoint, code, retry_after}` queues
  deterministic faults; `DELETE /_admin/faults` drops them. Kinds: `http_500`,
  `http_502`, `http_503`, `http_504`, `http_401`, `http_403`, `http_429`, `slow`,
  `garbage`, `result_code` (an error envelope with `code`).
- `GET /_admin/stats`: calls per endpoint, answers per outcome, the current rate.
- `POST /_admin/reset`: faults, stats, rate window and releases back to the start.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kra_graphql.kra import endpoints
from kra_graphql.kra import values as v
from kra_graphql.kra.errors import RESULT_CODE_NAMES
from kra_graphql.kra.parsing import HORSE_NO_WIDTH, PERSON_NO_WIDTH, Item
from kra_graphql.kra.replay_data import FixtureStore, RaceKey

RANDOM_FAULTS = ("http_5xx", "slow", "garbage")
QUEUED_FAULTS = frozenset(
    {
        "http_500",
        "http_502",
        "http_503",
        "http_504",
        "http_401",
        "http_403",
        "http_429",
        "slow",
        "garbage",
        "result_code",
    }
)
_JSON = "application/json;charset=UTF-8"
_GATEWAY_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?><OpenAPI_ServiceResponse><cmmMsgHeader>'
    "<errMsg>SERVICE ERROR</errMsg><returnAuthMsg>{name}</returnAuthMsg>"
    "<returnReasonCode>{code}</returnReasonCode></cmmMsgHeader></OpenAPI_ServiceResponse>"
)


class _BadRequest(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(RESULT_CODE_NAMES[code])
        self.code = code


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    endpoint: str | None = None
    code: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class _RaceFilter:
    date: str | None
    meet: int | None
    number: int | None

    def matches(self, key: RaceKey) -> bool:
        return (
            (self.date is None or key[0] == self.date)
            and (self.meet is None or key[1] == self.meet)
            and (self.number is None or key[2] == self.number)
        )


class ReplayState:
    """Everything the replay server remembers between requests."""

    def __init__(
        self,
        store: FixtureStore,
        *,
        latency_ms: float,
        fail_rate: float,
        rate_limit_per_min: int | None,
        rate_window_s: float,
        require_key: str | None,
        hold_results: bool,
        seed: int | None,
        slow_s: float,
    ) -> None:
        self.store = store
        self.latency_s = max(0.0, latency_ms) / 1000
        self.fail_rate = min(max(fail_rate, 0.0), 1.0)
        self.rate_limit = rate_limit_per_min if rate_limit_per_min else None
        self.rate_window_s = rate_window_s
        self.require_key = require_key
        self.hold_results = hold_results
        self.slow_s = slow_s
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        self.random = random.Random(self.seed)  # noqa: S311 - fault injection, not security
        self.released: dict[RaceKey, bool] = {}
        self.faults: deque[Fault] = deque()
        self.calls: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.window: deque[float] = deque()
        self.recent: deque[float] = deque()

    def is_released(self, key: RaceKey) -> bool:
        return self.released.get(key, not self.hold_results)

    def set_released(self, race_filter: _RaceFilter, released: bool) -> list[RaceKey]:
        keys = [key for key in self.store.race_keys() if race_filter.matches(key)]
        for key in keys:
            self.released[key] = released
        return keys

    def next_fault(self, endpoint: str) -> Fault | None:
        for fault in self.faults:
            if fault.endpoint is None or fault.endpoint == endpoint:
                self.faults.remove(fault)
                return fault
        if self.fail_rate and self.random.random() < self.fail_rate:
            return Fault(kind=self.random.choice(RANDOM_FAULTS))
        return None

    def admit(self, now: float) -> float | None:
        """Record a call against the rate limit; the Retry-After seconds when over it."""
        self.recent.append(now)
        while self.recent and self.recent[0] <= now - 60:
            self.recent.popleft()
        if self.rate_limit is None:
            return None
        while self.window and self.window[0] <= now - self.rate_window_s:
            self.window.popleft()
        if len(self.window) >= self.rate_limit:
            return max(0.0, self.window[0] + self.rate_window_s - now)
        self.window.append(now)
        return None


# --- envelopes -----------------------------------------------------------------------------


def _envelope(
    items: list[Item], *, page_no: int, rows: int, total: int, code: int = 0
) -> dict[str, Any]:
    message = "NORMAL SERVICE." if code == 0 else RESULT_CODE_NAMES.get(code, "UNKNOWN_ERROR")
    if not items:
        body_items: object = ""
    else:
        # The real API prints a lone item as an object, not a one-element list.
        body_items = {"item": items[0] if len(items) == 1 else items}
    return {
        "response": {
            "header": {"resultCode": f"{code:02d}", "resultMsg": message},
            "body": {
                "items": body_items,
                "numOfRows": rows,
                "pageNo": page_no,
                "totalCount": total,
            },
        }
    }


def _json(payload: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, indent=2)
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


def _page(items: list[Item], page_no: int, rows: int) -> Response:
    if not items:
        return _json(_envelope([], page_no=page_no, rows=rows, total=0, code=3))
    start = (page_no - 1) * rows
    return _json(
        _envelope(items[start : start + rows], page_no=page_no, rows=rows, total=len(items))
    )


# --- query parameters ----------------------------------------------------------------------


def _param_int(params: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = v.integer(raw)
    if value is None or value < 1:
        raise _BadRequest(10)
    return value


def _param_digits(params: Mapping[str, str], name: str, length: int) -> str | None:
    raw = (params.get(name) or "").strip().replace("-", "")
    if not raw:
        return None
    if len(raw) != length or not raw.isdigit():
        raise _BadRequest(10)
    return raw


def _race_keys(params: Mapping[str, str], state: ReplayState) -> list[RaceKey]:
    meet = _param_int(params, "meet")
    day = _param_digits(params, "rc_date", 8)
    month = _param_digits(params, "rc_month", 6)
    year = _param_digits(params, "rc_year", 4)
    number = _param_int(params, "rc_no")
    race_filter = _RaceFilter(day, meet, number)
    return [
        key
        for key in state.store.race_keys()
        if race_filter.matches(key)
        and (month is None or key[0].startswith(month))
        and (year is None or key[0].startswith(year))
    ]


def _race_detail(params: Mapping[str, str], state: ReplayState) -> list[Item]:
    items: list[Item] = []
    for key in _race_keys(params, state):
        items.extend(state.store.race_items(key, released=state.is_released(key)))
    return items


def _race_plan(params: Mapping[str, str], state: ReplayState) -> list[Item]:
    return [state.store.plan_item(key) for key in _race_keys(params, state)]


def _scratchings(params: Mapping[str, str], state: ReplayState) -> list[Item]:
    items: list[Item] = []
    for key in _race_keys(params, state):
        items.extend(state.store.scratching_items(key))
    return items


def _details(
    table: Callable[[ReplayState], dict[str, Item]], id_param: str, name_param: str, width: int
) -> Callable[[Mapping[str, str], ReplayState], list[Item]]:
    name_field = {"hr_name": "hrName", "jk_name": "jkName", "tr_name": "trName"}[name_param]

    def lookup(params: Mapping[str, str], state: ReplayState) -> list[Item]:
        rows = table(state)
        wanted = (params.get(id_param) or "").strip()
        if wanted:
            ident = v.identifier(wanted, width)
            if ident is None:
                raise _BadRequest(10)
            found = [rows[ident]] if ident in rows else []
        else:
            found = [rows[key] for key in sorted(rows)]
        name = (params.get(name_param) or "").strip()
        if name:
            found = [item for item in found if v.split_home_meet(item.get(name_field))[0] == name]
        return found

    return lookup


_HANDLERS: dict[str, Callable[[Mapping[str, str], ReplayState], list[Item]]] = {
    endpoints.RACE_DETAIL: _race_detail,
    endpoints.RACE_PLAN: _race_plan,
    endpoints.SCRATCHINGS: _scratchings,
    endpoints.HORSE: _details(lambda s: s.store.horses, "hr_no", "hr_name", HORSE_NO_WIDTH),
    endpoints.JOCKEY: _details(lambda s: s.store.jockeys, "jk_no", "jk_name", PERSON_NO_WIDTH),
    endpoints.TRAINER: _details(lambda s: s.store.trainers, "tr_no", "tr_name", PERSON_NO_WIDTH),
}


# --- faults --------------------------------------------------------------------------------


async def _fault_response(
    fault: Fault, state: ReplayState, answer: Callable[[], Response]
) -> Response:
    kind = fault.kind
    if kind == "http_5xx":
        kind = state.random.choice(("http_500", "http_502", "http_503"))
    if kind == "slow":
        # Long enough to trip the caller's timeout; the answer itself is good.
        await asyncio.sleep(state.slow_s)
        return answer()
    if kind == "garbage":
        return Response('{"response": {"header": {"resultCode": "00", "resu', media_type=_JSON)
    if kind == "result_code":
        code = v.integer(fault.code) if fault.code is not None else 99
        error = code if code is not None else 99
        return _json(_envelope([], page_no=1, rows=10, total=0, code=error))
    if kind == "http_429":
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = _retry_after_header(fault.retry_after)
        return Response("API rate limit exceeded", status_code=429, headers=headers)
    status = int(kind.removeprefix("http_"))
    if status in (401, 403):
        return Response("Unauthorized", status_code=status)
    return Response("Service temporarily unavailable", status_code=status)


def _retry_after_header(seconds: float) -> str:
    # HTTP wants whole seconds; fractions are sent as-is for tests that need short waits.
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


# --- routes --------------------------------------------------------------------------------


def _api_route(endpoint: str, state: ReplayState) -> Callable[[Request], Any]:
    handler = _HANDLERS[endpoint]

    async def route(request: Request) -> Response:
        state.calls[endpoint] += 1
        if state.latency_s:
            await asyncio.sleep(state.latency_s)
        params = dict(request.query_params)
        if state.require_key is not None:
            key = params.get("serviceKey", params.get("ServiceKey"))
            if key != state.require_key:
                state.outcomes["auth_error"] += 1
                body = _GATEWAY_ERROR.format(name=RESULT_CODE_NAMES[30], code=30)
                return Response(body, media_type="text/xml;charset=UTF-8")
        retry_after = state.admit(time.monotonic())
        if retry_after is not None:
            state.outcomes["rate_limited"] += 1
            header = str(max(1, math.ceil(retry_after)))
            return Response(
                "API rate limit exceeded", status_code=429, headers={"Retry-After": header}
            )

        def answer(count: bool = True) -> Response:
            try:
                rows = _param_int(params, "numOfRows", 10) or 10
                page_no = _param_int(params, "pageNo", 1) or 1
                items = handler(params, state)
            except _BadRequest as exc:
                state.outcomes["bad_request"] += int(count)
                return _json(_envelope([], page_no=1, rows=10, total=0, code=exc.code))
            state.outcomes["ok" if items else "no_data"] += int(count)
            return _page(items, page_no, rows)

        fault = state.next_fault(endpoint)
        if fault is not None:
            # Each call is counted under one outcome: the fault it met.
            state.outcomes[f"fault:{fault.kind}"] += 1
            return await _fault_response(fault, state, lambda: answer(count=False))
        return answer()

    return route


async def _read_filter(request: Request) -> _RaceFilter:
    raw = await request.body()
    data: Any = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    day = v.yyyymmdd(data["date"]) if data.get("date") is not None else None
    if data.get("date") is not None and day is None:
        raise ValueError("date must be YYYYMMDD or YYYY-MM-DD")
    meet = v.integer(data["meet"]) if data.get("meet") is not None else None
    number = v.integer(data["race_number"]) if data.get("race_number") is not None else None
    return _RaceFilter(day.strftime("%Y%m%d") if day else None, meet, number)


def _release_route(state: ReplayState, released: bool) -> Callable[[Request], Any]:
    async def route(request: Request) -> Response:
        try:
            race_filter = await _read_filter(request)
        except (ValueError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        keys = state.set_released(race_filter, released)
        return JSONResponse({"released": released, "races": [f"{d}/{m}/{n}" for d, m, n in keys]})

    return route


def _faults_route(state: ReplayState) -> Callable[[Request], Any]:
    async def route(request: Request) -> Response:
        if request.method == "DELETE":
            dropped = len(state.faults)
            state.faults.clear()
            return JSONResponse({"dropped": dropped})
        try:
            data: Any = await request.json()
            kind = str(data["kind"])
            if kind not in QUEUED_FAULTS:
                raise ValueError(f"unknown fault kind {kind!r}")
            count = int(data.get("count", 1))
            endpoint = data.get("endpoint")
            retry_after = data.get("retry_after")
            fault = Fault(
                kind=kind,
                endpoint=str(endpoint).strip("/") if endpoint else None,
                code=str(data["code"]) if data.get("code") is not None else None,
                retry_after=float(retry_after) if retry_after is not None else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        state.faults.extend([fault] * count)
        return JSONResponse({"queued": len(state.faults)})

    return route


def _latency_route(state: ReplayState) -> Callable[[Request], Any]:
    """Change the added latency while running, e.g. to slow a job down in a test."""

    async def route(request: Request) -> Response:
        try:
            data: Any = await request.json()
            latency_ms = float(data["ms"])
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        state.latency_s = max(0.0, latency_ms) / 1000
        return JSONResponse({"latency_ms": state.latency_s * 1000})

    return route


def _stats_route(state: ReplayState) -> Callable[[Request], Any]:
    async def route(request: Request) -> Response:
        now = time.monotonic()
        recent = sum(1 for moment in state.recent if moment > now - 60)
        return JSONResponse(
            {
                "calls": dict(state.calls),
                "total_calls": sum(state.calls.values()),
                "outcomes": dict(state.outcomes),
                "calls_last_minute": recent,
                # Monotonic seconds of the answered calls of the last minute, oldest first.
                "recent_call_times": [moment for moment in state.recent if moment > now - 60],
                "rate_limit_per_min": state.rate_limit,
                "rate_window_s": state.rate_window_s,
                "queued_faults": len(state.faults),
                "races": len(state.store.races),
                "released": sum(1 for key in state.store.races if state.is_released(key)),
            }
        )

    return route


def _reset_route(state: ReplayState) -> Callable[[Request], Any]:
    async def route(request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    return route


def create_replay_app(
    fixtures_dir: Path,
    *,
    latency_ms: float = 0,
    fail_rate: float = 0,
    rate_limit_per_min: int | None = None,
    require_key: str | None = None,
    hold_results: bool = False,
    seed: int | None = None,
    slow_s: float = 30.0,
    rate_window_s: float = 60.0,
) -> Starlette:
    """The replay server as an ASGI app over one fixture directory.

    `slow_s` is how long a "slow" fault stalls (past the client's timeout);
    `rate_window_s` is the window `rate_limit_per_min` counts over (60 s unless a test
    wants a shorter one).
    """
    store = FixtureStore(Path(fixtures_dir))
    state = ReplayState(
        store,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        rate_limit_per_min=rate_limit_per_min,
        rate_window_s=rate_window_s,
        require_key=require_key,
        hold_results=hold_results,
        seed=seed,
        slow_s=slow_s,
    )
    routes: list[Route] = []
    for endpoint in endpoints.ALL:
        route = _api_route(endpoint, state)
        routes.append(Route(f"/{endpoint}", route, methods=["GET"]))
        routes.append(Route(f"/B551015/{endpoint}", route, methods=["GET"]))
    routes += [
        Route("/_admin/release", _release_route(state, True), methods=["POST"]),
        Route("/_admin/hold", _release_route(state, False), methods=["POST"]),
        Route("/_admin/faults", _faults_route(state), methods=["POST", "DELETE"]),
        Route("/_admin/stats", _stats_route(state), methods=["GET"]),
        Route("/_admin/latency", _latency_route(state), methods=["POST"]),
        Route("/_admin/reset", _reset_route(state), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.replay = state
    return app


def serve_replay(
    fixtures_dir: Path | str, host: str = "127.0.0.1", port: int = 8790, **options: Any
) -> None:
    """Run the replay server under uvicorn until interrupted."""
    app = create_replay_app(Path(fixtures_dir), **options)
    uvicorn.run(app, host=host, port=port, log_level="info")
