"""Helpers for tests: free ports, subprocess servers, waiting for readiness."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kra_graphql.config import get_settings
from kra_graphql.graphql.context import ApiServices
from kra_graphql.graphql.schema import Schema, schema_for
from kra_graphql.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "kra_graphql"]
FAKE_LLM = [sys.executable, "-m", "kra_graphql.prediction.fake_llm"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def child_env(overrides: Mapping[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KRA_", "DATABASE_", "REDIS_", "LLM_"))
    }
    env.update({"PYTHONUNBUFFERED": "1", "ENVIRONMENT": "development", "LOG_LEVEL": "INFO"})
    env.update(overrides)
    return env


class Process:
    """A `kra-graphql` subprocess (or another program) whose output goes to a file we can
    read back."""

    def __init__(
        self,
        args: list[str],
        env: Mapping[str, str],
        log: Path,
        cwd: Path = ROOT,
        program: Sequence[str] = CLI,
    ):
        self.log = log
        # Where the process serves Prometheus metrics, if it does.
        self.metrics_url: str | None = None
        self._log_file = log.open("wb")
        self.popen = subprocess.Popen(
            [*program, *args],
            env=dict(env),
            cwd=cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.popen.poll() is not None:
                raise RuntimeError(f"process exited early:\n{self.output()}")
            time.sleep(0.05)
        raise TimeoutError(f"{text!r} not seen in {timeout} s:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()
        return self.popen.returncode


def wait_http_ok(url: str, timeout: float = 30, process: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise RuntimeError(f"server exited early:\n{process.output()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready in {timeout} s")


def samples(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def runtime_only_services(runtime: Runtime, **given: Any) -> ApiServices:
    """Services for running the schema in process: the runtime, and of the others only
    those given (the rest are absent; an operation that needs one fails)."""
    absent: dict[str, Any] = dict.fromkeys(("queue", "jobs", "hub", "predictors"))
    return ApiServices(runtime=runtime, **{**absent, **given})


def configured_schema() -> Schema:
    """The schema this run's settings ask for (EXECUTION_FAST_PATH, FAST_PATH_OFF)."""
    return schema_for(get_settings().fast_path)
