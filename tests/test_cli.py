"""The command line: schema export, and fail-fast start-up on bad configuration."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kra_graphql.graphql.schema import schema_sdl
from tests.support import CLI, ROOT, child_env


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_committed_schema_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == schema_sdl(), "schema.graphql drifted: run `make schema` and commit it"


def test_export_schema_prints_the_sdl() -> None:
    result = run_cli("export-schema", env=child_env({}))
    assert result.returncode == 0
    assert result.stdout == schema_sdl()


@pytest.mark.parametrize(
    ("command", "overrides", "variable"),
    [
        (
            "serve",
            {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"},
            "DATABASE_URL",
        ),
        ("worker", {"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL"),
        ("serve", {"REDIS_URL": "redis://127.0.0.1:notaport"}, "REDIS_URL"),
        ("worker", {"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
        ("serve", {"REDIS_URL": "redis://127.0.0.1:1/0"}, "REDIS_URL"),
        ("serve", {"KRA_RATE_LIMIT_PER_MIN": "-5"}, "KRA_RATE_LIMIT_PER_MIN"),
        ("serve", {"ENVIRONMENT": "staging"}, "ENVIRONMENT"),
        ("serve", {"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ("migrate", {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}, "DATABASE_URL"),
        ("serve", {"KRA_API_BASE_URL": "ftp://example"}, "KRA_API_BASE_URL"),
    ],
)
def test_bad_configuration_stops_start_up_with_one_line_and_exit_2(
    command: str, overrides: dict[str, str], variable: str, tmp_path: object
) -> None:
    env = child_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            **overrides,
        }
    )
    result = run_cli(command, env=env)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_without_redis_url_says_so() -> None:
    result = run_cli("serve", env=child_env({"DATABASE_URL": "sqlite:///:memory:"}))
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kra_graphql", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("serve", "worker", "migrate", "export-schema", "dev"):
        assert command in result.stdout
