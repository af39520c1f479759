"""Prometheus metrics: defined once here, recorded once per operation, call or job.

API processes serve them on /metrics; a worker serves its own on WORKER_METRICS_PORT (KRA
calls and job durations happen there). Under `serve --workers N` every server process
writes its samples to PROMETHEUS_MULTIPROC_DIR and /metrics adds them up, so any process
can answer a scrape. Counts of jobs by kind and status are read from the database at
scrape time: the job rows are the truth, and every process would report the same.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response

from kra_graphql.jobs.models import Job
from kra_graphql.runtime import Runtime

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

GRAPHQL_OPERATIONS = Counter(
    "kra_graphql_operations_total",
    "GraphQL operations by operation name, type and outcome (ok or the error code).",
    ["operation", "type", "outcome"],
)
GRAPHQL_LATENCY = Histogram(
    "kra_graphql_operation_duration_seconds",
    "Time to answer a query or mutation, from parsing to the result.",
    ["operation", "type"],
    buckets=LATENCY_BUCKETS,
)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "kra_graphql_active_subscriptions",
    "Subscriptions streaming right now.",
    multiprocess_mode="livesum",
)
QUERIES_WAITING = Gauge(
    "kra_graphql_queries_waiting",
    "Queries waiting for a turn to execute (READ_CONCURRENCY).",
    multiprocess_mode="livesum",
)
RATE_LIMIT_REJECTIONS = Counter(
    "kra_ratelimit_rejections_total",
    "Requests turned away by the per-key or per-address rate limit.",
    ["caller"],
)
RESPONSE_CACHE_HITS = Counter(
    "kra_graphql_response_cache_hits_total", "Answers served from the response cache."
)
JOB_DURATION = Histogram(
    "kra_job_duration_seconds",
    "From a job's start to its end, by kind and final status.",
    ["kind", "status"],
    buckets=JOB_BUCKETS,
)
KRA_CALLS = Counter(
    "kra_api_calls_total", "HTTP attempts against the KRA API.", ["endpoint", "outcome"]
)
KRA_LATENCY = Histogram(
    "kra_api_call_duration_seconds",
    "Duration of HTTP attempts against the KRA API.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
RETENTION_DELETED = Counter(
    "kra_retention_deleted_total",
    "Rows deleted by the daily retention task: finished jobs, their log lines, webhook"
    " deliveries (JOB_RETENTION_DAYS).",
    ["what"],
)

# Operation names come from clients: keep the label set bounded.
MAX_OPERATION_NAMES = 200
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_seen_names: set[str] = set()


def operation_label(name: str | None) -> str:
    if name is None:
        return "anonymous"
    if name in _seen_names:
        return name
    if not _NAME.fullmatch(name) or len(_seen_names) >= MAX_OPERATION_NAMES:
        return "other"
    _seen_names.add(name)
    return name


def observe_kra_call(endpoint: str, outcome: str, seconds: float) -> None:
    """The KRA client's `on_call` hook."""
    KRA_CALLS.labels(endpoint=endpoint, outcome=outcome).inc()
    KRA_LATENCY.labels(endpoint=endpoint).observe(seconds)


def observe_job(job: Job) -> None:
    if job.started_at is not None and job.finished_at is not None:
        seconds = (job.finished_at - job.started_at).total_seconds()
        JOB_DURATION.labels(kind=job.kind, status=job.status).observe(max(0.0, seconds))


def observe_retention(*, jobs: int, job_logs: int, webhook_deliveries: int) -> None:
    RETENTION_DELETED.labels(what="jobs").inc(jobs)
    RETENTION_DELETED.labels(what="job_logs").inc(job_logs)
    RETENTION_DELETED.labels(what="webhook_deliveries").inc(webhook_deliveries)


class _JobCounts(Collector):
    def __init__(self, counts: Iterable[tuple[str, str, int]] | None) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "kra_jobs_scrape_ok", "1 when the job counts below could be read from the database."
        )
        up.add_metric([], 0 if self._counts is None else 1)
        yield up
        jobs = GaugeMetricFamily("kra_jobs", "Jobs by kind and status.", labels=["kind", "status"])
        for kind, status, count in self._counts or ():
            jobs.add_metric([kind, status], count)
        yield jobs


async def _job_counts(runtime: Runtime) -> list[tuple[str, str, int]] | None:
    try:
        async with asyncio.timeout(2.0), runtime.sessions() as session:
            rows = await session.execute(
                select(col(Job.kind), col(Job.status), func.count()).group_by(
                    col(Job.kind), col(Job.status)
                )
            )
            return [(kind, status, int(count)) for kind, status, count in rows.tuples()]
    except Exception:
        return None


def process_registry(multiprocess_dir: str | None) -> CollectorRegistry:
    """This process's metrics, or every server process's when they share a directory."""
    if multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, multiprocess_dir)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


_worker_port: int | None = None


def serve_worker_metrics(port: int) -> None:
    """A worker's /metrics, on a thread of its own: scrapes never wait for the event loop."""
    global _worker_port
    if _worker_port is None:
        start_http_server(port)
        _worker_port = port


async def metrics_endpoint(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_JobCounts(await _job_counts(runtime)))
    registry = process_registry(runtime.settings.prometheus_multiproc_dir)
    body = generate_latest(registry) + generate_latest(snapshot)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
