"""The GraphQL API against hand-written baselines, measured side by side in one run.

    python bench/graphql.py [--duration 8] [--only q1,trivial,mutation,fanout] [--ws-clients 1]
                            [--pieces] [--rounds 1]

Needs wrk (`apt-get update && apt-get install -y wrk`), PostgreSQL and Redis on loopback
(TEST_POSTGRES_URL, TEST_REDIS_URL as for the tests). The run creates its own database
`kra_bench_<id>`, Redis prefix `kra-bench-<id>:` and ARQ queue, imports the May 2025
fixtures with `kra-graphql import-json`, and removes exactly those at the end, also on
Ctrl-C. The API under test is `kra-graphql serve` (ENVIRONMENT=production); it, its
cache-less twin and the baseline (bench/baseline_app.py, uvicorn with the same loop and
HTTP parser) are pinned to core 0 and loaded one at a time; wrk, the WebSocket clients,
the worker and this script run on core 1.

Scenarios
  q1        `races(first: 20)` with entries, horses and jockeys against a hand-written
            Starlette + asyncpg endpoint; every answer is checked byte for byte first.
            "cold": a second API process with RESPONSE_CACHE_ENABLED=false, so every
            answer is computed; "repeated": the same request again on the API with its
            response cache (cache hits). Without a cache setting only "repeated" is shown.
            "stock": the cold API with EXECUTION_FAST_PATH=false (stock Strawberry and
            graphql-core); with --pieces also "-<piece>": the cold API with that one
            fast-path piece left off (FAST_PATH_OFF), for every piece of
            kra_graphql/graphql/fastpath/. The same variants run collectRaces, and
            "stock", "-shared" and "-runner" the fan-out.
  trivial   `{ __typename }` against a Starlette route returning the same bytes, cold and
            repeated as for q1.
  mutation  `collectRaces` job creation from 20 connections for 5 s, a worker running;
            p95 target 20 ms; next to a hand-written endpoint that stores a queued job
            row and its Redis queue entry per request (bench/baseline_app.py).
            Skipped while the schema has no such mutation.
  fanout    1,000 graphql-transport-ws subscribers on `jobProgress` of one job; 100
            PROGRESS events at 10/s written with the job layer, then COMPLETED. Reports
            delivery, publish-to-receipt latency of the terminal event (target: the last
            subscriber within 250 ms) and memory per idle subscription. Skipped while the
            schema has no such subscription.

Reading the output
  rps         requests completed per second; ratio = ours / baseline (1.00: as fast as
              the hand-written code; 0.25: it needs four times the CPU per request).
  p50/p95/p99 wrk's latency percentiles, ms, at 1 connection and at 50.
  cpu us/req  CPU time of the server process per request; srv% and wrk% are the shares of
              their cores the server and wrk used: wrk well below 100% means the load
              generator was not the limit. others% is the share of the server's core that
              other processes took meanwhile (PostgreSQL, other runs on this machine):
              above a few percent the row was disturbed.
  faults      socket errors + non-2xx + bodies containing "errors" + bodies whose length
              differs from the checked answer; a row with faults measures failures.
  Expect +-30% between runs on these machines: compare ratios within one run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python bench/graphql.py` puts bench/ first on sys.path, where this file would shadow
# graphql-core for every later `import graphql`: put the repository root there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import difflib
import importlib.metadata
import platform
import signal
import statistics
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench.collection import FIXTURES
from bench.harness import (
    AUTHORIZATION,
    BENCH_KEY,
    LOAD_CORE,
    ROOT,
    SERVER_CORE,
    Child,
    CpuSampler,
    Isolation,
    Load,
    free_port,
    kra_graphql,
    mapped_libraries,
    pin_self_to_load_core,
    require_wrk,
    rss_bytes,
    run_cli,
    run_wrk,
    wait_http_ok,
)
from kra_graphql.graphql.fastpath import PIECES

Q1 = (
    "{ races(first: 20) { edges { node { id date meet raceNumber name distance "
    "entries { gateNumber winOdds finishPosition horse { horseNo name } "
    "jockey { jockeyNo name } } } } } }"
)
TRIVIAL = "{ __typename }"
MUTATION = (
    'mutation { collectRaces(input: {date: "20250503", meet: 1, raceNumbers: [1], '
    "enrich: false, withResults: false}) { id status } }"
)
SUBSCRIPTION = 'subscription { jobProgress(id: "%s") { sequence type job { id status progress } } }'
MONTH = "202505"
CONNECTIONS = (1, 50)
WARM_UP_S = 2
MUTATION_CONNECTIONS = 20
MUTATION_S = 5
MUTATION_P95_TARGET_MS = 20
SUBSCRIBERS = 1000
PROGRESS_EVENTS = 100
EVENTS_PER_S = 10
FANOUT_TARGET_MS = 250
FANOUT_FINISH_S = 90
# Share of the server's core taken by other processes above which a row is marked.
DISTURBED_SHARE = 0.10
SCENARIOS = ("q1", "trivial", "mutation", "fanout")
VERSIONED = ("strawberry-graphql", "graphql-core", "uvicorn", "starlette", "sqlalchemy", "asyncpg")


def say(message: str) -> None:
    """Progress goes to stderr; stdout carries the report."""
    print(message, file=sys.stderr, flush=True)


def graphql_body(query: str) -> bytes:
    return orjson.dumps({"query": query})


# --- the processes of one run -----------------------------------------------------------


@dataclass
class Stack:
    iso: Isolation = field(default_factory=Isolation)
    children: list[Child] = field(default_factory=list)
    api: Child | None = None
    api_cold: Child | None = None
    baseline: Child | None = None
    api_url: str = ""
    api_cold_url: str = ""
    baseline_url: str = ""
    # Cold twins of the API run differently: stock Strawberry, and (with --pieces) the
    # fast path with one piece left off each.
    variants: list[Target] = field(default_factory=list)
    # Each measurement is split into this many rounds, taken in turn across the targets,
    # and the round of median CPU per request is reported: drift then weighs on every
    # target alike.
    rounds: int = 1

    def spawn(self, label: str, args: Sequence[str], env: dict[str, str], core: str) -> Child:
        child = Child(label, args, env, core)
        self.children.append(child)
        return child

    def stop(self, child: Child) -> None:
        child.stop()
        self.children.remove(child)

    @property
    def api_pid(self) -> int:
        assert self.api is not None
        return self.api.pid

    @property
    def baseline_pid(self) -> int:
        assert self.baseline is not None
        return self.baseline.pid

    async def close(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        await self.iso.remove()


async def prepare_data(stack: Stack) -> None:
    say(f"database {stack.iso.name}: migrating and importing {MONTH} fixtures")
    await stack.iso.create_database()
    await run_cli(stack.iso, "migrate")
    days = sorted(str(path) for path in (FIXTURES / "API214_1").glob(f"{MONTH}*"))
    await run_cli(stack.iso, "import-json", *days)
    connection = await asyncpg.connect(stack.iso.database_url)
    try:
        await connection.execute("ANALYZE")  # planner statistics, as autovacuum would leave
    finally:
        await connection.close()


async def data_summary(stack: Stack) -> str:
    connection = await asyncpg.connect(stack.iso.database_url)
    try:
        counts = [
            await connection.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("races", "entries", "horses", "jockeys")
        ]
    finally:
        await connection.close()
    return "{} races, {} entries, {} horses, {} jockeys".format(*counts)


async def start_api(stack: Stack) -> None:
    stack.api, stack.api_url = await spawn_api(stack, "api", {})


def has_response_cache() -> bool:
    from kra_graphql.config import Settings

    return "response_cache_enabled" in Settings.model_fields


async def start_cold_api(stack: Stack) -> None:
    """A second API process that answers every request from the database."""
    off = {"RESPONSE_CACHE_ENABLED": "false"}
    stack.api_cold, stack.api_cold_url = await spawn_api(stack, "api-cold", off)


async def start_variants(stack: Stack, pieces: bool) -> None:
    """Stock Strawberry next to the fast path, and each fast-path piece left off alone."""
    cold = {"RESPONSE_CACHE_ENABLED": "false"}
    variants = {"stock": {**cold, "EXECUTION_FAST_PATH": "false"}}
    if pieces:
        variants |= {f"-{piece}": {**cold, "FAST_PATH_OFF": piece} for piece in PIECES}
    for label, env in variants.items():
        child, url = await spawn_api(stack, f"api{label}", env)
        stack.variants.append(Target(label, url, child.pid))


async def spawn_api(stack: Stack, label: str, env: dict[str, str]) -> tuple[Child, str]:
    port = free_port()
    args = kra_graphql("serve", "--port", str(port))
    child = stack.spawn(label, args, stack.iso.env(**env), SERVER_CORE)
    url = f"http://127.0.0.1:{port}"
    await wait_http_ok(f"{url}/health", child)
    return child, url


async def start_baseline(stack: Stack) -> None:
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "bench.baseline_app:app"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = stack.iso.env(BENCH_DATABASE_URL=stack.iso.database_url)
    stack.baseline = stack.spawn("baseline", args, env, SERVER_CORE)
    stack.baseline_url = f"http://127.0.0.1:{port}"
    await wait_http_ok(f"{stack.baseline_url}/health", stack.baseline)


async def start_worker(stack: Stack) -> tuple[Child, Child]:
    """A replay server standing in for the KRA API, and one worker using it."""
    port = free_port()
    replay = stack.spawn(
        "replay",
        kra_graphql("replay-kra", "--fixtures", str(FIXTURES), "--port", str(port)),
        stack.iso.env(),
        LOAD_CORE,
    )
    await wait_http_ok(f"http://127.0.0.1:{port}/_admin/stats", replay)
    env = stack.iso.env(KRA_API_BASE_URL=f"http://127.0.0.1:{port}")
    worker = stack.spawn("worker", kra_graphql("worker"), env, LOAD_CORE)
    await wait_worker_up(stack, worker)
    return replay, worker


async def wait_worker_up(stack: Stack, worker: Child, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if worker.popen.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{worker.output()}")
        answer = await post_graphql(stack.api_url, "{ health { worker } }")
        if (answer.get("data") or {}).get("health", {}).get("worker") == "UP":
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the worker's heartbeat did not show in {within_s} s")


# --- HTTP helpers -------------------------------------------------------------------------


async def post_raw(url: str, body: bytes) -> bytes:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        response = await client.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "Authorization": AUTHORIZATION},
        )
        return response.content


async def post_graphql(api_url: str, query: str) -> dict[str, Any]:
    answer: dict[str, Any] = orjson.loads(await post_raw(f"{api_url}/graphql", graphql_body(query)))
    return answer


def missing_from_schema(errors: Sequence[dict[str, Any]], name: str) -> bool:
    """A field the schema lacks, or a root type it lacks ("not configured to execute")."""
    messages = [str(error.get("message", "")) for error in errors]
    return any(name in message or "not configured" in message for message in messages)


def difference(ours: bytes, theirs: bytes) -> str:
    """A readable diff of two JSON answers, or where their bytes part when values agree."""

    def pretty(answer: bytes) -> list[str]:
        try:
            return (
                orjson.dumps(orjson.loads(answer), option=orjson.OPT_INDENT_2).decode().splitlines()
            )
        except orjson.JSONDecodeError:
            return answer.decode(errors="replace").splitlines()

    lines = list(
        difflib.unified_diff(pretty(ours), pretty(theirs), "graphql", "baseline", lineterm="", n=2)
    )
    if lines:
        return "\n".join(lines[:80])
    at = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
        min(len(ours), len(theirs)),
    )
    return (
        f"same values, different bytes from offset {at}:\n"
        f"  graphql:  {ours[max(0, at - 40) : at + 40]!r}\n"
        f"  baseline: {theirs[max(0, at - 40) : at + 40]!r}"
    )


# --- request/response scenarios (q1, trivial, mutation) -------------------------------------


@dataclass(frozen=True)
class Row:
    scenario: str
    connections: int
    ours: Load
    base: Load | None = None

    @property
    def disturbed(self) -> bool:
        loads = [self.ours, self.base] if self.base else [self.ours]
        return any(load.others_share > DISTURBED_SHARE for load in loads)

    @property
    def ratio(self) -> str:
        return f"{self.ours.rps / self.base.rps:.2f}" if self.base and self.base.rps else "-"


class NotIdentical(Exception):
    pass


@dataclass(frozen=True)
class Target:
    label: str
    url: str
    pid: int


def api_targets(stack: Stack, name: str) -> list[Target]:
    """ "cold" is the API without its response cache (every answer computed), "repeated"
    the same request again on the API with it; without a cache only "repeated". Between
    them the cold variants: "stock" and each "-piece"."""
    targets = [Target(f"{name} repeated", f"{stack.api_url}/graphql", stack.api_pid)]
    variants = [
        Target(f"{name} {variant.label}", f"{variant.url}/graphql", variant.pid)
        for variant in stack.variants
    ]
    if stack.api_cold is not None:
        cold = Target(f"{name} cold", f"{stack.api_cold_url}/graphql", stack.api_cold.pid)
        targets.insert(0, cold)
    return [*targets[:-1], *variants, targets[-1]]


async def checked_answer(query: str, targets: Sequence[Target], base: Target) -> bytes:
    """The baseline's answer, after checking that every target answers the same bytes, the
    first time and again (a cache hit, when there is a cache)."""
    body = graphql_body(query)
    expected = await post_raw(base.url, body)
    for target in targets:
        for attempt in ("first", "second"):
            ours = await post_raw(target.url, body)
            if ours != expected:
                raise NotIdentical(
                    f"{target.label}, {attempt} request: {query}\nthe answers differ "
                    f"({len(ours)} vs {len(expected)} bytes):\n{difference(ours, expected)}"
                )
    return expected


async def compare(
    stack: Stack, name: str, query: str, baseline_path: str, seconds: float
) -> list[Row]:
    targets = api_targets(stack, name)
    base = Target("baseline", f"{stack.baseline_url}{baseline_path}", stack.baseline_pid)
    answer = await checked_answer(query, targets, base)
    say(f"{name}: identical answers, {len(answer)} bytes; measuring")
    body = graphql_body(query)
    neighbours = [target.pid for target in [*targets, base]]
    for target in [*targets, base]:
        await run_wrk(target.url, body, connections=50, seconds=WARM_UP_S, server_pid=target.pid)

    async def measure(target: Target, connections: int, seconds: float) -> Load:
        return await run_wrk(
            target.url,
            body,
            connections=connections,
            seconds=seconds,
            server_pid=target.pid,
            expected_length=len(answer),
            neighbours=neighbours,
        )

    rows = []
    for connections in CONNECTIONS:
        taken: dict[str, list[Load]] = {target.label: [] for target in [*targets, base]}
        for _ in range(stack.rounds):
            for target in [*targets, base]:
                load = await measure(target, connections, seconds / stack.rounds)
                taken[target.label].append(load)
        baseline = median_load(taken[base.label])
        rows += [Row(t.label, connections, median_load(taken[t.label]), baseline) for t in targets]
    return rows


def median_load(loads: Sequence[Load]) -> Load:
    return sorted(loads, key=lambda load: load.server_us_per_request)[len(loads) // 2]


async def scenario_q1(stack: Stack, seconds: float) -> list[Row]:
    return await compare(stack, "Q1", Q1, "/q1", seconds)


async def scenario_trivial(stack: Stack, seconds: float) -> list[Row]:
    return await compare(stack, "trivial", TRIVIAL, "/trivial", seconds)


async def count_jobs(stack: Stack) -> int:
    connection = await asyncpg.connect(stack.iso.database_url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM jobs"))
    finally:
        await connection.close()


async def scenario_mutation(stack: Stack) -> tuple[list[Row], str]:
    probe = await post_graphql(stack.api_url, MUTATION)
    errors = probe.get("errors") or []
    if missing_from_schema(errors, "collectRaces"):
        return [], "collectRaces: skipped: not in schema"
    if errors:
        return [], f"collectRaces: skipped: the probe failed: {orjson.dumps(errors).decode()}"
    body = graphql_body(MUTATION)
    base_url = f"{stack.baseline_url}/collect"
    answer = await post_raw(f"{stack.api_url}/graphql", body)
    base_answer = await post_raw(base_url, body)
    if (
        len(answer) != len(base_answer)
        or orjson.loads(answer)["data"]["collectRaces"]["status"]
        != orjson.loads(base_answer)["data"]["collectRaces"]["status"]
    ):
        raise NotIdentical(f"collectRaces: {answer!r} against the baseline's {base_answer!r}")
    say(f"collectRaces: probe answered {answer.decode()}; starting a worker")
    replay, worker = await start_worker(stack)
    try:
        url = f"{stack.api_url}/graphql"
        neighbours = [stack.api_pid, stack.baseline_pid]

        async def measure(target: str, pid: int, seconds: float) -> Load:
            return await run_wrk(
                target,
                body,
                connections=MUTATION_CONNECTIONS,
                seconds=seconds,
                server_pid=pid,
                expected_length=len(answer),
                neighbours=neighbours,
            )

        targets = [
            Target("collectRaces", url, stack.api_pid),
            Target("baseline", base_url, stack.baseline_pid),
            *(Target(f"collectRaces {v.label}", f"{v.url}/graphql", v.pid) for v in stack.variants),
        ]
        for target in targets:
            await measure(target.url, target.pid, 1)
        taken: dict[str, list[Load]] = {target.label: [] for target in targets}
        before = await count_jobs(stack)
        for _ in range(stack.rounds):
            for target in targets:
                load = await measure(target.url, target.pid, MUTATION_S / stack.rounds)
                taken[target.label].append(load)
        created = await count_jobs(stack) - before
        requests = sum(load.requests for loads in taken.values() for load in loads)
        load, base = median_load(taken["collectRaces"]), median_load(taken["baseline"])
        others = [
            Row(target.label, MUTATION_CONNECTIONS, median_load(taken[target.label]), base)
            for target in targets[2:]
        ]
    finally:
        # A worker's recovery sweep would take over the fan-out scenario's job row.
        stack.stop(worker)
        stack.stop(replay)
    verdict = "met" if load.p95_ms <= MUTATION_P95_TARGET_MS else "MISSED"
    note = (
        f"collectRaces: p95 {load.p95_ms:.2f} ms against a target of "
        f"{MUTATION_P95_TARGET_MS} ms: {verdict} (the hand-written endpoint: p95 "
        f"{base.p95_ms:.2f} ms); {created} job rows for {requests} requests"
    )
    return [Row("collectRaces", MUTATION_CONNECTIONS, load, base), *others], note


# --- fan-out ------------------------------------------------------------------------------


async def probe_subscription(ws_url: str, query: str) -> list[dict[str, Any]]:
    """The errors of the first answer to a subscription, [] when it streams."""
    timeout = 10
    async with connect(
        ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], proxy=None, compression=None
    ) as ws:
        init = {"type": "connection_init", "payload": {"apiKey": BENCH_KEY}}
        await ws.send(orjson.dumps(init).decode())
        await asyncio.wait_for(ws.recv(), timeout)
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": query}}
        await ws.send(orjson.dumps(subscribe).decode())  # graphql-transport-ws: text frames
        message = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
    if message.get("type") == "error":
        errors: list[dict[str, Any]] = message.get("payload") or [{"message": "error"}]
        return errors
    return list((message.get("payload") or {}).get("errors") or [])


@dataclass
class JobWriter:
    """Writes the job row and its events with the application's own job layer."""

    stack: Stack
    runtime: Any = None
    job_id: str = ""

    async def __aenter__(self) -> JobWriter:
        from kra_graphql.config import Settings
        from kra_graphql.db import unit_of_work, utcnow
        from kra_graphql.jobs.models import Job, JobKind, JobStatus
        from kra_graphql.runtime import Runtime

        iso = self.stack.iso
        settings = Settings(
            database_url=iso.database_url,
            redis_url=iso.redis_url,
            redis_prefix=iso.redis_prefix,
            arq_queue_name=iso.queue_name,
        )
        self.runtime = Runtime.create(settings)
        async with unit_of_work(self.runtime.sessions) as session:
            job = Job(
                kind=JobKind.COLLECTION,
                status=JobStatus.PROCESSING,
                total_steps=PROGRESS_EVENTS,
                started_at=utcnow(),
                parameters={"bench": "fan-out"},
            )
            session.add(job)
        self.job_id = job.id
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.runtime.close()

    async def progress(self, value: int) -> None:
        from kra_graphql.jobs.events import JobEventType
        from kra_graphql.jobs.reporter import write_job

        values = {"progress": value, "completed_steps": value}
        await write_job(self.runtime, self.job_id, values, JobEventType.PROGRESS)

    async def complete(self) -> None:
        from kra_graphql.db import utcnow
        from kra_graphql.jobs.events import JobEventType
        from kra_graphql.jobs.models import JobStatus
        from kra_graphql.jobs.reporter import write_job

        values = {"status": JobStatus.COMPLETED, "progress": 100, "finished_at": utcnow()}
        await write_job(self.runtime, self.job_id, values, JobEventType.STATUS)


class Subscribers:
    """The client processes holding the WebSocket subscriptions, all on the load core."""

    def __init__(self) -> None:
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self, ws_url: str, query: str, count: int, processes: int) -> dict[str, Any]:
        shares = [count // processes + (i < count % processes) for i in range(processes)]
        for share in shares:
            self.processes.append(
                await asyncio.create_subprocess_exec(
                    *["taskset", "-c", LOAD_CORE, sys.executable, "-m", "bench.fanout_client"],
                    *[ws_url, str(share), query, BENCH_KEY],
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    cwd=ROOT,
                )
            )
        async with asyncio.timeout(180):
            lines = await asyncio.gather(*map(read_json, self.processes))
        return {
            "ready": sum(line["ready"] for line in lines),
            "failed": sum(line["failed"] for line in lines),
            "first_error": next((ln["first_error"] for ln in lines if ln["first_error"]), None),
            "connect_s": max(line["connect_s"] for line in lines),
        }

    async def finish(self, seconds: float) -> tuple[list[list[Any]], float]:
        """Every subscriber's row and the clients' CPU seconds since they were ready."""
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(f"finish {seconds}\n".encode())
            await process.stdin.drain()
        async with asyncio.timeout(seconds + 60):
            results = await asyncio.gather(*map(read_json, self.processes))
        rows = [row for result in results for row in result["subscribers"]]
        return rows, sum(result["cpu_s"] for result in results)

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()
            await process.wait()


async def read_json(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await process.stdout.readline()
    if not line:
        raise RuntimeError("a WebSocket client process ended without an answer")
    answer: dict[str, Any] = orjson.loads(line)
    return answer


@dataclass
class Fanout:
    subscribers: int
    processes: int
    ready: dict[str, Any]
    rss_before: int
    rss_idle: int
    rows: list[list[Any]] = field(default_factory=list)
    client_cpu_s: float = 0.0
    api_cpu_s: float = 0.0
    events_s: float = 0.0
    terminal_write_ms: float = 0.0
    terminal_at: float = 0.0
    label: str = ""

    def report(self) -> list[str]:
        n = self.subscribers
        latencies = sorted(
            (row[3] - self.terminal_at) * 1000 for row in self.rows if row[3] is not None
        )
        progress = sorted(row[1] for row in self.rows)
        messages = sorted(row[0] for row in self.rows)
        errors = [row[6] for row in self.rows if row[6]]
        delivered = max(1, sum(messages) - n)  # the snapshots came before the first event
        lines = [
            f"fan-out ({self.label}): {n} subscribers, {self.processes} client process(es) "
            f"on core {LOAD_CORE}; "
            f"{PROGRESS_EVENTS} PROGRESS events at {EVENTS_PER_S}/s, then COMPLETED",
            f"  subscribed (snapshot received): {self.ready['ready']}/{n} in "
            f"{self.ready['connect_s']:.1f} s",
            f"  terminal event received: {len(latencies)}/{n}; subscription completed: "
            f"{sum(1 for row in self.rows if row[5])}/{n}; last PROGRESS delivery carried "
            f"{PROGRESS_EVENTS}: {sum(1 for row in self.rows if row[2] == PROGRESS_EVENTS)}/{n}",
        ]
        if latencies:
            verdict = (
                "met" if len(latencies) == n and latencies[-1] <= FANOUT_TARGET_MS else "MISSED"
            )
            lines.append(
                f"  terminal event, write_job start to receipt: p50 "
                f"{percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
                f"max {latencies[-1]:.1f} ms (target: last within {FANOUT_TARGET_MS} ms: "
                f"{verdict}); write_job itself took {self.terminal_write_ms:.1f} ms"
            )
        lines += [
            f"  PROGRESS deliveries per subscriber (of {PROGRESS_EVENTS}; fewer = coalesced): "
            f"min {progress[0]}, median {statistics.median(progress):.0f}, max {progress[-1]}; "
            f"all messages incl. snapshot and terminal: min {messages[0]}, "
            f"median {statistics.median(messages):.0f}, max {messages[-1]}",
            f"  API RSS: {self.rss_before / 2**20:.1f} MiB before, {self.rss_idle / 2**20:.1f} "
            f"MiB with {n} idle subscriptions: "
            f"{(self.rss_idle - self.rss_before) / n / 1024:.1f} KiB per subscription",
            f"  from the first event to the last receipt ({self.events_s:.1f} s): "
            f"{delivered} messages delivered, {delivered / self.events_s:.0f}/s, "
            f"{self.api_cpu_s / delivered * 1e6:.0f} us of API CPU each",
            f"  CPU meanwhile: API {self.api_cpu_s / self.events_s:.0%} of core {SERVER_CORE}, "
            f"clients {self.client_cpu_s / self.events_s:.0%} of core {LOAD_CORE} "
            f"({self.client_verdict()})",
        ]
        if errors:
            lines.append(f"  {len(errors)} subscriber error(s), first: {errors[0]}")
        return lines

    def client_verdict(self) -> str:
        share = self.client_cpu_s / self.events_s if self.events_s else 0.0
        if share < 0.7:
            return "the clients kept up"
        return "the clients may be the limit: figures are an upper bound"


def first_error_logged(stack: Stack, pid: int) -> str:
    for child in stack.children:
        if child.pid == pid:
            lines = child.output().splitlines()
            return next((line for line in lines if "unexpected_error" in line), "none")
    return "no such process"


def percentile(sorted_values: Sequence[float], p: float) -> float:
    index = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def publish_events(writer: JobWriter) -> tuple[float, float]:
    """PROGRESS 1..100 at a steady rate, then COMPLETED; when the last write started and
    how long it took."""
    started = time.monotonic()
    for value in range(1, PROGRESS_EVENTS + 1):
        await writer.progress(value)
        await asyncio.sleep(max(0.0, started + value / EVENTS_PER_S - time.monotonic()))
    terminal_at = time.monotonic()
    await writer.complete()
    return terminal_at, time.monotonic() - terminal_at


async def scenario_fanout(stack: Stack, processes: int, api: Target) -> tuple[Fanout | None, str]:
    ws_url = api.url.replace("http://", "ws://") + "/graphql"
    errors = await probe_subscription(ws_url, SUBSCRIPTION % "job_missing")
    if missing_from_schema(errors, "jobProgress"):
        return None, "jobProgress: skipped: not in schema"
    say(f"jobProgress: probe on a missing job answered {errors}; subscribing {SUBSCRIBERS}")
    clients = Subscribers()
    async with JobWriter(stack) as writer:
        try:
            rss_before = rss_bytes(api.pid)
            query = SUBSCRIPTION % writer.job_id
            ready = await clients.start(ws_url, query, SUBSCRIBERS, processes)
            await asyncio.sleep(1)
            fanout = Fanout(SUBSCRIBERS, processes, ready, rss_before, rss_bytes(api.pid))
            fanout.label = api.label
            if ready["failed"]:
                say(f"jobProgress: {ready['failed']} subscriptions failed: {ready['first_error']}")
                say(f"the server's first unexpected error: {first_error_logged(stack, api.pid)}")
            say("jobProgress: publishing")
            async with CpuSampler(api.pid) as api_cpu:
                started = time.monotonic()
                fanout.terminal_at, write_s = await publish_events(writer)
                fanout.terminal_write_ms = write_s * 1000
                fanout.rows, fanout.client_cpu_s = await clients.finish(FANOUT_FINISH_S)
            receipts = [row[3] for row in fanout.rows if row[3] is not None]
            ended = max(receipts, default=time.monotonic())
            fanout.events_s = ended - started
            fanout.api_cpu_s = api_cpu.between(started, ended)
        finally:
            await clients.stop()
    return fanout, ""


DISTURBED_NOTE = (
    f"*: other processes took more than {DISTURBED_SHARE:.0%} of the server's core during "
    "the row (others%): PostgreSQL answering that row's queries (expected for the "
    "database-bound baseline at 50 connections) or other runs on this machine (then "
    "rerun on a quiet machine)."
)


# --- the report ---------------------------------------------------------------------------


def versions(api_pid: int) -> str:
    maps = mapped_libraries(api_pid)
    loop = f"uvloop {importlib.metadata.version('uvloop')}" if "uvloop" in maps else "asyncio"
    http = "httptools" if "httptools" in maps else "h11"
    listed = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in VERSIONED)
    return f"Python {platform.python_version()}; {listed}\nAPI loop: {loop}, HTTP parser: {http}"


def load_table(rows: Sequence[Row]) -> list[str]:
    head = (
        f"{'scenario':<18}{'conns':>6}{'ours rps':>10}{'base rps':>10}{'ratio':>7}  "
        f"{'ours p50/p95/p99 ms':<22}{'base p50/p95/p99 ms':<22}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        base_rps = f"{row.base.rps:.0f}" if row.base else "-"
        label = f"{row.scenario}{' *' if row.disturbed else ''}"
        base_lat = row.base.latencies() if row.base else "-"
        lines.append(
            f"{label:<18}{row.connections:>6}{row.ours.rps:>10.0f}{base_rps:>10}"
            f"{row.ratio:>7}  {row.ours.latencies():<22}{base_lat:<22}"
        )
    return lines


def cpu_table(rows: Sequence[Row]) -> list[str]:
    head = (
        f"{'scenario':<18}{'conns':>6}{'cpu us/req ours/base':>22}{'srv% ours/base':>16}"
        f"{'wrk% ours/base':>16}{'others% ours/base':>19}{'faults ours/base':>18}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        o, b = row.ours, row.base
        lines.append(
            f"{row.scenario:<18}{row.connections:>6}"
            f"{pair(o.server_us_per_request, b.server_us_per_request if b else None, '.0f'):>22}"
            f"{pair(o.server_cpu_share * 100, b.server_cpu_share * 100 if b else None, '.0f'):>16}"
            f"{pair(o.wrk_cpu_share * 100, b.wrk_cpu_share * 100 if b else None, '.0f'):>16}"
            f"{pair(o.others_share * 100, b.others_share * 100 if b else None, '.0f'):>19}"
            f"{pair(o.faults, b.faults if b else None, 'd'):>18}"
        )
    return lines


def pair(ours: float, base: float | None, spec: str) -> str:
    return f"{ours:{spec}}/{'-' if base is None else format(base, spec)}"


@dataclass
class Report:
    header: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fanout: list[str] = field(default_factory=list)

    def print(self) -> None:
        blocks = [self.header]
        if self.rows:
            blocks += [load_table(self.rows), cpu_table(self.rows)]
            if any(row.disturbed for row in self.rows):
                self.notes.insert(0, DISTURBED_NOTE)
        blocks += [self.notes, self.fanout]
        print("\n\n".join("\n".join(block) for block in blocks if block), flush=True)


# --- main -----------------------------------------------------------------------------------


async def run(
    stack: Stack, only: set[str], seconds: float, ws_clients: int, pieces: bool
) -> Report:
    report = Report()
    await prepare_data(stack)
    await start_api(stack)
    cached = has_response_cache()
    if only & {"q1", "trivial", "mutation"}:
        await start_baseline(stack)
    if only & {"q1", "trivial"} and cached:
        await start_cold_api(stack)
    await start_variants(stack, pieces)
    report.header = [
        versions(stack.api_pid),
        f"data: {await data_summary(stack)} ({MONTH}); server and baseline on core "
        f"{SERVER_CORE}, wrk on core {LOAD_CORE}; {seconds:g} s per measurement",
    ]
    for name in SCENARIOS:
        if name in only:
            try:
                await run_scenario(name, stack, report, seconds, ws_clients)
            except (NotIdentical, asyncio.CancelledError):
                raise
            except Exception as error:
                traceback.print_exc()
                report.notes.append(f"{name}: failed: {type(error).__name__}: {error}")
    return report


async def run_scenario(
    name: str, stack: Stack, report: Report, seconds: float, ws_clients: int
) -> None:
    if name == "q1":
        report.rows += await scenario_q1(stack, seconds)
        if stack.api_cold is None:
            report.notes.append("Q1: cold == repeated until a response cache exists.")
    elif name == "trivial":
        report.rows += await scenario_trivial(stack, seconds)
    elif name == "mutation":
        rows, note = await scenario_mutation(stack)
        report.rows += rows
        report.notes.append(note)
    elif name == "fanout":
        api = Target("fast path", stack.api_url, stack.api_pid)
        wanted = {"stock", "-shared", "-runner"}
        for target in [api, *(v for v in stack.variants if v.label in wanted)]:
            fanout, note = await scenario_fanout(stack, ws_clients, target)
            report.fanout += fanout.report() if fanout else [note]


async def main(only: set[str], seconds: float, ws_clients: int, pieces: bool, rounds: int) -> int:
    require_wrk()
    pin_self_to_load_core()
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    stack = Stack(rounds=rounds)
    try:
        report = await run(stack, only, seconds, ws_clients, pieces)
    except NotIdentical as error:
        print(f"stopped: the GraphQL answer and the baseline's are not the same bytes:\n{error}")
        return 1
    finally:
        say("cleaning up: processes, database, Redis keys")
        await stack.close()
    report.print()
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=8, help="seconds per measurement")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument(
        "--ws-clients", type=int, default=1, help="processes holding the fan-out subscriptions"
    )
    parser.add_argument(
        "--pieces",
        action="store_true",
        help="also run the API with each fast-path piece left off, one at a time",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds per measurement, taken in turn"
    )
    args = parser.parse_args(argv)
    args.only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = args.only - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {SCENARIOS}")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    try:
        sys.exit(
            asyncio.run(
                main(
                    arguments.only,
                    arguments.duration,
                    arguments.ws_clients,
                    arguments.pieces,
                    arguments.rounds,
                )
            )
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; processes, database and Redis keys removed", file=sys.stderr)
        sys.exit(130)
