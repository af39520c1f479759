"""Operations: Prometheus metrics on the API and the worker, structured logs with request
ids and no secrets, readiness with the worker heartbeat, the compose file."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gql import Client, GraphQLRequest

from kra_graphql.config import Settings
from tests.access_support import post, ws_transport
from tests.conftest import API_KEY, API_KEY_NAME, api_server, settings_env
from tests.support import CLI, ROOT, Process, samples

COLLECT = """
mutation Collect($d: String!) {
  collectRaces(input: {date: $d, meet: 1, raceNumbers: [1], enrich: false}) { id }
}
"""


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def finished(api_url: str, job_id: str) -> dict[str, Any]:
    query = "query J($id: ID!) { job(id: $id) { status kind } }"
    for _ in range(600):
        response = await post(api_url, query, key=API_KEY, variables={"id": job_id})
        job: dict[str, Any] = response.json()["data"]["job"]
        if job["status"] in {"COMPLETED", "PARTIAL", "FAILED", "CANCELLED"}:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


async def test_metrics_cover_operations_jobs_and_kra_calls(
    api_url: str, worker_process: Process, replay_url: str
) -> None:
    async with httpx.AsyncClient(base_url=replay_url) as replay:
        await replay.post("/_admin/reset")
    created = await post(api_url, COLLECT, key=API_KEY, variables={"d": "20250105"})
    job = await finished(api_url, created.json()["data"]["collectRaces"]["id"])
    await post(api_url, "query Refused { prompts { id } }", key="kra_" + "q" * 40)
    assert job["status"] == "COMPLETED"

    api = await scrape(f"{api_url}/metrics")
    ok = {"operation": "Collect", "type": "mutation", "outcome": "ok"}
    assert samples(api, "kra_graphql_operations_total", **ok) >= 1
    assert samples(api, "kra_graphql_operation_duration_seconds_count", operation="Collect") >= 1
    assert (
        samples(api, "kra_graphql_operations_total", operation="Refused", outcome="UNAUTHENTICATED")
        == 1
    )
    assert samples(api, "kra_jobs", kind="COLLECTION", status="COMPLETED") >= 1
    assert samples(api, "kra_jobs_scrape_ok") == 1

    assert worker_process.metrics_url is not None
    worker = await scrape(worker_process.metrics_url)
    assert samples(worker, "kra_api_calls_total", outcome="ok") >= 1
    assert samples(worker, "kra_api_call_duration_seconds_count") >= 1
    completed = {"kind": "COLLECTION", "status": "COMPLETED"}
    assert samples(worker, "kra_job_duration_seconds_count", **completed) >= 1


async def test_active_subscriptions_are_counted_while_they_stream(api_url: str) -> None:
    async def active() -> float:
        return samples(await scrape(f"{api_url}/metrics"), "kra_graphql_active_subscriptions")

    before = await active()
    async with Client(transport=ws_transport(api_url, API_KEY)) as session:
        stream = session.subscribe(GraphQLRequest("subscription { jobEvents { sequence } }"))
        listener = asyncio.create_task(anext(stream))
        during = before
        for _ in range(50):
            during = await active()
            if during == before + 1:
                break
            await asyncio.sleep(0.1)
        listener.cancel()
    after = during
    for _ in range(50):
        after = await active()
        if after == before:
            break
        await asyncio.sleep(0.1)
    assert during == before + 1
    assert after == before


@pytest.fixture(scope="module")
def production_server(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Process]]:
    """JSON logs, on a queue no worker serves."""
    log = tmp_path_factory.mktemp("prod-ops") / "api.log"
    queue = f"{settings.redis_prefix}idle-{uuid.uuid4().hex[:6]}"
    with api_server(settings, log, ENVIRONMENT="production", ARQ_QUEUE_NAME=queue) as server:
        yield server


def json_lines(process: Process) -> list[dict[str, Any]]:
    lines = [line for line in process.output().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


async def test_each_request_has_an_id_in_the_response_and_the_log(
    production_server: tuple[str, Process],
) -> None:
    url, process = production_server
    given = await post(url, "query Traced { prompts { id } }", key=API_KEY,
                       headers={"X-Request-ID": "trace-abc.123"})  # fmt: skip
    hostile = await post(url, "query Other { prompts { id } }", key=API_KEY,
                         headers={"X-Request-ID": "bad id {} with spaces"})  # fmt: skip
    refused = await post(url, "query Anon { prompts { id } }")
    assert given.headers["x-request-id"] == "trace-abc.123"
    replaced = hostile.headers["x-request-id"]
    assert len(replaced) == 32
    assert replaced.isalnum()
    assert refused.status_code == 401
    assert refused.headers["x-request-id"]

    await asyncio.sleep(0.2)
    lines = json_lines(process)  # every line is JSON in production
    operations = {
        line.get("operation"): line for line in lines if line["event"] == "graphql.operation"
    }
    traced = operations["Traced"]
    assert traced["request_id"] == "trace-abc.123"
    assert traced["key"] == API_KEY_NAME
    assert traced["type"] == "query"
    assert traced["outcome"] == "ok"
    assert isinstance(traced["duration_ms"], float)
    assert {"level", "timestamp"} <= traced.keys()
    assert operations["Other"]["request_id"] == replaced
    assert operations["Anon"]["outcome"] == "UNAUTHENTICATED"
    assert operations["Anon"]["key"] is None
    assert API_KEY not in process.output()


async def test_readiness_reports_a_missing_worker_as_degraded(
    production_server: tuple[str, Process], api_url: str, worker_process: Process
) -> None:
    url, _ = production_server
    async with httpx.AsyncClient() as client:
        degraded = await client.get(f"{url}/health/ready")
        ready = await client.get(f"{api_url}/health/ready")
    assert degraded.status_code == 200
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["degraded"] == ["worker"]
    assert degraded.json()["workerHeartbeat"] is None
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["degraded"] == []
    assert "j_complete=" in ready.json()["workerHeartbeat"]


def test_worker_check_follows_the_heartbeat(settings: Settings, worker_process: Process) -> None:
    env = settings_env(settings)
    alive = subprocess.run([*CLI, "worker", "--check"], env=env, capture_output=True, timeout=60)
    idle = {**env, "ARQ_QUEUE_NAME": f"{settings.redis_prefix}nobody"}
    dead = subprocess.run([*CLI, "worker", "--check"], env=idle, capture_output=True, timeout=60)
    assert alive.returncode == 0
    assert dead.returncode == 1


REDACTION_SCRIPT = """
import logging, structlog
from pydantic import SecretStr
from kra_graphql.config import Settings
from kra_graphql.logging import configure_logging

settings = Settings(
    environment="production",
    kra_api_key=SecretStr("svc%2Bkey%3D%3Dsecret"),
    llm_api_key=SecretStr("sk-llm-secret-value"),
    api_keys=SecretStr("ops:read:env-key-0123456789abcdef"),
    database_url="postgresql://app:db-password-xyz@db.example/kra",
)
configure_logging(settings)
made = "kra_" + "A1b2" * 10
try:
    raise RuntimeError(
        "failed: GET https://apis.example/x?serviceKey=svc+key==secret&a=1 "
        "Authorization: Bearer " + made + " token sk-llm-secret-value "
        "key env-key-0123456789abcdef url postgresql://app:db-password-xyz@db.example/kra"
    )
except RuntimeError:
    structlog.get_logger("t").exception("ours.failed", api_key=made, detail={"authorization": "x"})
    logging.getLogger("uvicorn.error").exception("library failed with %s", made)
"""


def test_secrets_are_redacted_from_every_log_line_and_exception() -> None:
    result = subprocess.run(
        [sys.executable, "-c", REDACTION_SCRIPT], capture_output=True, text=True, timeout=60,
        cwd=ROOT, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert [line["event"] for line in lines] == [
        "ours.failed",
        "library failed with kra_[REDACTED]",
    ]
    assert "RuntimeError" in lines[0]["exception"]
    assert "RuntimeError" in lines[1]["exception"]
    for secret in (
        "A1b2A1b2A1b2",
        "svc+key==secret",
        "svc%2Bkey%3D%3Dsecret",
        "sk-llm-secret-value",
        "env-key-0123456789abcdef",
        "db-password-xyz",
    ):
        assert secret not in result.stderr, secret
    assert "[REDACTED]" in lines[0]["exception"]
    assert lines[0]["api_key"] == "[REDACTED]"
    assert lines[0]["detail"] == {"authorization": "[REDACTED]"}


def test_compose_runs_migrations_once_before_the_api_and_checks_every_service() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    for name in ("postgres", "redis", "api", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["worker"]["healthcheck"]["test"][-2:] == ["worker", "--check"]
    assert services["worker"]["environment"]["WORKER_METRICS_PORT"]
    # Every variable the compose file passes is one the settings know.
    known = {name.upper() for name in Settings.model_fields}
    assert set(services["api"]["environment"]) <= known
    assert set(services["worker"]["environment"]) <= known
    compose_cli = shutil.which("docker-compose")
    if compose_cli is not None:
        checked = subprocess.run(
            [compose_cli, "config", "-q"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stderr


def test_metrics_of_several_server_processes_add_up(settings: Settings, tmp_path: Path) -> None:
    """`serve --workers 2`: any process answers a scrape with every process's samples."""
    from tests.support import free_port, wait_http_ok

    port = free_port()
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {**settings_env(settings), "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    server = Process(["serve", "--port", str(port), "--workers", "2"], env, tmp_path / "api.log")
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", process=server, timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(20):
                # A new connection each time, so the processes share the requests.
                client.post(
                    "/graphql",
                    json={"query": "query Spread { __typename }"},
                    headers={"Authorization": f"Bearer {API_KEY}", "Connection": "close"},
                )
            time.sleep(0.2)
            scrapes = [
                client.get("/metrics", headers={"Connection": "close"}).text for _ in range(4)
            ]
    finally:
        server.stop()
    counts = [samples(text, "kra_graphql_operations_total", operation="Spread") for text in scrapes]
    assert counts == [20, 20, 20, 20]
