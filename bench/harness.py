"""Plumbing for the HTTP benchmarks: an isolated database and Redis prefix, pinned child
processes, wrk runs and /proc readings. Nothing here knows about GraphQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import orjson
from redis.asyncio import Redis

from bench.scratch import PG_ADMIN, REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WRK_SCRIPT = BENCH / "wrk_post.lua"
SERVER_CORE = "0"
LOAD_CORE = "1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Sent as `Authorization: Bearer` (wrk, httpx) and as the WebSocket `apiKey`.
BENCH_KEY = "kra_bench_" + secrets.token_urlsafe(24)
AUTHORIZATION = f"Bearer {BENCH_KEY}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pin_self_to_load_core() -> None:
    """The orchestrating process never runs on the server's core."""
    os.sched_setaffinity(0, {int(LOAD_CORE)})


# --- isolation: one database, one Redis prefix and queue per run ------------------------


@dataclass
class Isolation:
    name: str = field(default_factory=lambda: f"kra_bench_{uuid.uuid4().hex[:10]}")
    database_created: bool = False

    @property
    def database_url(self) -> str:
        return PG_ADMIN.rsplit("/", 1)[0] + f"/{self.name}"

    @property
    def redis_url(self) -> str:
        return REDIS_URL

    @property
    def redis_prefix(self) -> str:
        return f"kra-bench-{self.name.removeprefix('kra_bench_')}:"

    @property
    def queue_name(self) -> str:
        return f"{self.redis_prefix}queue"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a `kra-graphql` child: our database, prefix and queue only."""
        keep = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KRA_", "DATABASE_", "REDIS_", "ARQ_"))
        }
        return {
            **keep,
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.redis_prefix,
            "ARQ_QUEUE_NAME": self.queue_name,
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "WARNING",
            "DAILY_COLLECTION_ENABLED": "false",
            # One all-scope key for every request of the run; no rate limit in the way.
            "API_KEYS": f"bench:read+collect+predict+admin:{BENCH_KEY}",
            "RATE_LIMIT_PER_MIN": "0",
            "ANONYMOUS_RATE_LIMIT_PER_MIN": "0",
            **extra,
        }

    async def create_database(self) -> None:
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'CREATE DATABASE "{self.name}"')
            self.database_created = True
        finally:
            await admin.close()

    async def remove(self) -> None:
        """Drop our database and delete our Redis keys; nothing else."""
        if self.database_created:
            admin = await asyncpg.connect(PG_ADMIN)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            finally:
                await admin.close()
        redis: Redis = Redis.from_url(REDIS_URL)
        try:
            # ARQ's own keys (arq:job:<prefix>…, arq:result:…) carry our prefix in the job id.
            keys = [k async for k in redis.scan_iter(match=f"*{self.redis_prefix}*", count=500)]
            if keys:
                await redis.delete(*keys)
            aborts = [m async for m, _ in redis.zscan_iter("arq:abort") if self.prefix_in(m)]
            if aborts:
                await redis.zrem("arq:abort", *aborts)
        finally:
            await redis.aclose()

    def prefix_in(self, member: bytes) -> bool:
        return self.redis_prefix.encode() in member


# --- child processes ----------------------------------------------------------------------


class Child:
    """A pinned subprocess whose output goes to a log file we can show on failure."""

    def __init__(self, label: str, args: Sequence[str], env: Mapping[str, str], core: str):
        self.label = label
        self.log = Path(tempfile.mkstemp(prefix=f"kra-bench-{label}-", suffix=".log")[1])
        self._log_file = self.log.open("wb")
        self.popen = subprocess.Popen(
            ["taskset", "-c", core, *args],
            env=dict(env),
            cwd=ROOT,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid  # taskset execs the command: same pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 10) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()
        self.log.unlink(missing_ok=True)


def kra_graphql(*args: str) -> list[str]:
    return [sys.executable, "-m", "kra_graphql", *args]


async def wait_http_ok(url: str, child: Child, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
        while time.monotonic() < deadline:
            if child.popen.poll() is not None:
                raise RuntimeError(f"{child.label} exited early:\n{child.output()}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{child.label}: {url} not ready in {within_s} s:\n{child.output()}")


async def run_cli(iso: Isolation, *args: str) -> None:
    """A one-shot `kra-graphql` command on our database (migrate, import-json)."""
    process = await asyncio.create_subprocess_exec(
        *kra_graphql(*args),
        env=iso.env(),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"kra-graphql {args[0]} failed:\n{out.decode(errors='replace')}")


# --- /proc readings -------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def core_busy_seconds(core: str) -> float:
    """Time one core spent on anything but idling, whoever ran there."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            ticks = [int(value) for value in line.split()[1:]]
            idle = ticks[3] + ticks[4]
            return (sum(ticks[:8]) - idle) / CLOCK_TICKS
    raise LookupError(f"no core {core} in /proc/stat")


async def settle(pid: int, *, idle_share: float = 0.05, within_s: float = 60) -> None:
    """Wait until a server has worked off what an earlier load left queued."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.3)
        if cpu_seconds(pid) - before <= idle_share * 0.3:
            return


class CpuSampler:
    """A process's CPU time sampled every 50 ms, to tell what it used between two instants."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CpuSampler:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        while True:
            self.samples.append((time.monotonic(), cpu_seconds(self.pid)))
            await asyncio.sleep(0.05)

    def between(self, start: float, end: float) -> float:
        def at(instant: float) -> float:
            return next((cpu for t, cpu in self.samples if t >= instant), self.samples[-1][1])

        return at(end) - at(start) if self.samples else 0.0


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for pid {pid}")


def mapped_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- wrk --------------------------------------------------------------------------------------


WRK_MISSING = (
    "wrk is not installed: `apt-get update && apt-get install -y wrk` (Debian/Ubuntu), "
    "then run this again"
)


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit(WRK_MISSING)
    if shutil.which("taskset") is None:
        raise SystemExit("taskset is missing: `apt-get install -y util-linux`")


@dataclass(frozen=True)
class Load:
    """One wrk run against one target, with the CPU the server and wrk used meanwhile."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    status_errors: int
    graphql_errors: int
    length_mismatches: int
    server_cpu_s: float
    wrk_cpu_s: float
    core_busy_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_share(self) -> float:
        return self.server_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def wrk_cpu_share(self) -> float:
        return self.wrk_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def others_share(self) -> float:
        """Share of the server's core taken by other processes (other runs, PostgreSQL)."""
        return max(0.0, self.core_busy_s - self.server_cpu_s) / self.seconds if self.seconds else 0

    @property
    def server_us_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else 0.0

    @property
    def faults(self) -> int:
        return (
            self.socket_errors + self.status_errors + self.graphql_errors + self.length_mismatches
        )

    def latencies(self) -> str:
        return f"{self.p50_ms:.2f}/{self.p95_ms:.2f}/{self.p99_ms:.2f}"


async def run_wrk(
    url: str,
    body: bytes,
    *,
    connections: int,
    seconds: float,
    server_pid: int,
    expected_length: int = 0,
    neighbours: Sequence[int] = (),
) -> Load:
    """POST `body` over `connections` keep-alive connections for `seconds`, wrk pinned.

    First the server and its `neighbours` on the same core work off what earlier loads
    left queued (a saturated server keeps computing answers nobody waits for)."""
    for pid in {server_pid, *neighbours}:
        await settle(pid)
    with tempfile.NamedTemporaryFile(prefix="kra-bench-body-", suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        cpu_before, wrk_before = cpu_seconds(server_pid), children_cpu_seconds()
        core_before = core_busy_seconds(SERVER_CORE)
        process = await asyncio.create_subprocess_exec(
            *["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}"],
            *["-H", f"Authorization: {AUTHORIZATION}"],
            *[f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(WRK_SCRIPT)],
            *[url, "--", body_file.name, str(expected_length)],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        server_cpu = cpu_seconds(server_pid) - cpu_before
        wrk_cpu = children_cpu_seconds() - wrk_before
        core_busy = core_busy_seconds(SERVER_CORE) - core_before
    report = _last_json_line(out.decode())
    if process.returncode != 0 or report is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{out.decode()}{err.decode()}")
    return Load(
        requests=report["requests"],
        seconds=report["duration_us"] / 1e6,
        p50_ms=report["p50"] / 1000,
        p95_ms=report["p95"] / 1000,
        p99_ms=report["p99"] / 1000,
        max_ms=report["max"] / 1000,
        socket_errors=report["socket_errors"],
        status_errors=report["status_errors"],
        graphql_errors=report["graphql_errors"],
        length_mismatches=report["length_mismatches"],
        server_cpu_s=server_cpu,
        wrk_cpu_s=wrk_cpu,
        core_busy_s=core_busy,
    )


def _last_json_line(text: str) -> dict[str, int] | None:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            parsed: dict[str, int] = orjson.loads(line)
            return parsed
    return None
