"""`kra-graphql dev` on a machine with nothing configured: SQLite, embedded Redis, worker."""

from __future__ import annotations

import re
import signal
import socket
import time
from pathlib import Path

import httpx

from tests.support import Process, child_env, free_port


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_dev_serves_graphiql_on_its_embedded_default_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    process = Process(
        ["dev", "--port", str(port)], child_env({}), tmp_path / "dev.log", cwd=tmp_path
    )
    try:
        process.wait_for_output("GraphiQL on", timeout=60)
        url = f"http://127.0.0.1:{port}/graphql"
        page = httpx.get(url, headers={"Accept": "text/html"}, timeout=10)
        health = httpx.post(
            url, json={"query": "{ health { database redis worker } }"}, timeout=10
        ).json()
        # The worker's first heartbeat may lag the server by a poll.
        for _ in range(50):
            if health["data"]["health"]["worker"] == "UP":
                break
            time.sleep(0.1)
            health = httpx.post(
                url, json={"query": "{ health { database redis worker } }"}, timeout=10
            ).json()
        printed = re.search(
            r"development API key.*?\s(kra_[A-Za-z0-9_-]{40})\s", process.output(), re.S
        )
        assert printed is not None, process.output()
        mutation = {"query": "mutation { createPrompt(input: {name: \"x\", version: \"v\", "
                    "text: \"t\", predictor: FORM}) { id } }"}  # fmt: skip
        anonymous = httpx.post(url, json=mutation, timeout=10)
        keyed = httpx.post(
            url, json=mutation, headers={"Authorization": f"Bearer {printed.group(1)}"}, timeout=10
        )
    finally:
        code = process.stop(signal.SIGINT)

    assert anonymous.status_code == 401
    # The key passed the guard and reached the resolver, which judged the input itself.
    assert keyed.status_code == 200
    assert "UNAUTHENTICATED" not in keyed.text
    assert "FORBIDDEN" not in keyed.text

    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    assert health == {"data": {"health": {"database": "UP", "redis": "UP", "worker": "UP"}}}
    assert (tmp_path / ".kra" / "kra.db").exists()
    assert code == 0, process.output()
    redis_port = int(re.search(r"redis://127\.0\.0\.1:(\d+)", process.output()).group(1))  # type: ignore[union-attr]
    assert not _port_open(redis_port), "the embedded Redis outlived the dev server"
    assert not _port_open(port)
    assert "Traceback" not in process.output()
