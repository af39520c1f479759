"""The command-line client against a real server, worker and replay of the KRA API.

Terminal behaviour (the live bar, Ctrl-C and its question) is tested in tmux, where the
client has a real TTY; exit codes and one-line errors are tested as plain subprocesses.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kra_graphql.config import Settings
from tests.clients_support import Tmux, ensure_test_tools
from tests.support import CLI, ROOT, child_env

pytestmark = pytest.mark.usefixtures("worker_process")

PERCENT = re.compile(r"^PROCESSING\s.*?(\d+)%", re.MULTILINE)


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    ensure_test_tools()


@pytest.fixture
def cli_env(api_url: str, api_key: str) -> dict[str, str]:
    return child_env(
        {
            "KRA_GRAPHQL_URL": f"{api_url}/graphql",
            "KRA_GRAPHQL_KEY": api_key,
            "COLUMNS": "200",
            "TERM": "xterm-256color",
        }
    )


@pytest.fixture
def terminal(cli_env: dict[str, str]) -> Iterator[list[Tmux]]:
    sessions: list[Tmux] = []
    yield sessions
    for session in sessions:
        session.close()


def in_terminal(sessions: list[Tmux], env: dict[str, str], *args: str) -> Tmux:
    session = Tmux([*CLI, *args], env)
    sessions.append(session)
    return session


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def job_of(output: str) -> str:
    match = re.search(r"\bjob (job_[0-9a-f]+)", output)
    assert match, output
    return match.group(1)


async def job_status(api_url: str, api_key: str, job_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {api_key}"}) as client:
        answer = await client.post(
            f"{api_url}/graphql",
            json={"query": "query($id: ID!) { job(id: $id) { status progress completedSteps "
                           "currentStep } }",
                  "variables": {"id": job_id}},
        )  # fmt: skip
    job: dict[str, Any] = answer.json()["data"]["job"]
    return job


async def test_collect_in_a_terminal_draws_an_advancing_bar_and_ends_on_the_status(
    api_url: str,
    api_key: str,
    cli_env: dict[str, str],
    terminal: list[Tmux],
    replay: httpx.AsyncClient,
) -> None:
    # Slow answers stretch the job over a few seconds so the screen can be sampled.
    await replay.post("/_admin/latency", json={"ms": 250})
    session = in_terminal(terminal, cli_env, "collect", "--date", "20250531", "--meet", "1",
                          "--no-enrich")  # fmt: skip
    seen: list[int] = []
    etas: set[str] = set()

    def record(screen: str) -> bool:
        seen.extend(int(p) for p in PERCENT.findall(screen) if not seen or int(p) != seen[-1])
        etas.update(re.findall(r"ETA (\d+:\d\d:\d\d)", screen))
        return "EXIT=" in screen

    try:
        screen = session.wait_for(record, timeout=90, every=0.05)
    except TimeoutError as timeout:
        # Whether the job or its report to the terminal is what stopped.
        row = await job_status(api_url, api_key, job_of(session.screen()))
        raise AssertionError(f"{timeout}\nthe job's row now: {row}") from None

    assert session.exit_code() == 0
    assert len(set(seen)) >= 3, f"the bar never advanced: {seen}\n{screen}"
    assert seen == sorted(seen), seen
    assert etas, "no time estimate was ever shown"
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[-1].startswith("EXIT=")
    assert re.match(r"COMPLETED job_\w+ \(COLLECTION\) · raceIds: 10 · .*failures: 0", lines[-2])
    assert re.match(r"COMPLETED\s+━+ 100%", lines[-3]), screen


async def test_ctrl_c_asks_and_yes_cancels_the_job(
    api_url: str, api_key: str, cli_env: dict[str, str], terminal: list[Tmux],
    replay: httpx.AsyncClient,
) -> None:  # fmt: skip
    await replay.post("/_admin/latency", json={"ms": 400})
    session = in_terminal(terminal, cli_env, "collect", "--date", "20250531", "--meet", "2",
                          "--no-enrich")  # fmt: skip
    screen = session.wait_for(lambda text: "collecting race" in text)
    job_id = job_of(screen)

    session.send("C-c")
    session.wait_for(lambda text: f"Cancel job {job_id}? [y/N]" in text, timeout=10)
    session.send("y", "Enter")

    assert session.exit_code() == 1
    screen = session.screen()
    assert f"CANCELLED {job_id}" in screen
    assert "cancel requested" in screen
    assert (await job_status(api_url, api_key, job_id))["status"] == "CANCELLED"


async def test_ctrl_c_answered_no_detaches_and_watch_follows_the_job_to_its_end(
    api_url: str, api_key: str, cli_env: dict[str, str], terminal: list[Tmux],
    replay: httpx.AsyncClient,
) -> None:  # fmt: skip
    await replay.post("/_admin/latency", json={"ms": 400})
    session = in_terminal(terminal, cli_env, "collect", "--date", "20250525", "--meet", "3",
                          "--no-enrich")  # fmt: skip
    job_id = job_of(session.wait_for(lambda text: "collecting race" in text))

    session.send("C-c")
    session.wait_for(lambda text: "[y/N]" in text, timeout=10)
    session.send("n", "Enter")

    assert session.exit_code() == 130
    assert f"kra-graphql watch {job_id}" in session.screen()
    assert (await job_status(api_url, api_key, job_id))["status"] == "PROCESSING"

    watched = run_cli(cli_env, "watch", job_id)
    assert watched.returncode == 0, watched.stderr
    assert f"COMPLETED {job_id} (COLLECTION)" in watched.stdout
    assert "raceIds: 6" in watched.stdout


async def test_partial_and_failed_jobs_set_the_exit_code(
    cli_env: dict[str, str], replay: httpx.AsyncClient, settings: Settings
) -> None:
    # Every attempt at the first race fails; the two after it succeed.
    await replay.post(
        "/_admin/faults",
        json={"kind": "http_500", "count": settings.kra_max_attempts,
              "endpoint": "API214_1/RaceDetailResult_1"},
    )  # fmt: skip
    partial = run_cli(cli_env, "collect", "--date", "20250530", "--meet", "3", "--races",
                      "1,2,3", "--no-enrich")  # fmt: skip
    assert partial.returncode == 3, partial.stdout + partial.stderr
    assert re.search(r"^PARTIAL job_\w+ \(COLLECTION\) · raceIds: 2 .*failures: 1", partial.stdout,
                     re.MULTILINE), partial.stdout  # fmt: skip

    # An invalid service key is not worth retrying: the job fails at once.
    await replay.post("/_admin/faults", json={"kind": "result_code", "code": "30", "count": 50})
    failed = run_cli(cli_env, "collect", "--date", "20250530", "--meet", "2", "--races", "1")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"^FAILED job_\w+ \(COLLECTION\).* error: .*30", failed.stdout, re.MULTILINE)


async def test_evaluate_and_improve_follow_their_jobs(
    cli_env: dict[str, str], replay: httpx.AsyncClient
) -> None:
    # No other test collects 2025-05-23, so the evaluation's race count is ours alone.
    for meet in ("2", "3"):
        collected = run_cli(cli_env, "collect", "--date", "20250523", "--meet", meet,
                            "--no-enrich", "--key", cli_env["KRA_GRAPHQL_KEY"])  # fmt: skip
        assert collected.returncode == 0, collected.stdout + collected.stderr

    evaluated = run_cli(cli_env, "evaluate", "--prompt", "form-weights-v1.0",
                        "--date-from", "20250523", "--date-to", "2025-05-23")  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert re.search(r"^COMPLETED job_\w+ \(EVALUATION\)", evaluated.stdout, re.MULTILINE)
    assert "metrics.races: 16" in evaluated.stdout
    sampled = run_cli(cli_env, "evaluate", "--prompt", "form-weights-v1.0",
                      "--date-from", "20250523", "--date-to", "20250523",
                      "--sample-size", "5", "--seed", "3")  # fmt: skip
    assert sampled.returncode == 0, sampled.stdout + sampled.stderr
    assert "metrics.races: 5" in sampled.stdout

    improved = run_cli(cli_env, "improve", "--prompt", "form-weights-v1.0", "--iterations", "2",
                       "--sample-size", "10", "--train-share", "0.65",
                       "--date-from", "20250523", "--date-to", "20250523")  # fmt: skip
    assert improved.returncode == 0, improved.stdout + improved.stderr
    assert re.search(r"^COMPLETED job_\w+ \(PROMPT_IMPROVEMENT\)", improved.stdout, re.MULTILINE)
    assert "championId: form-weights-v1." in improved.stdout
    assert "iterations: 2" in improved.stdout

    # 16 races are too few to train on: the job says so, and so does the exit code.
    trained = run_cli(cli_env, "train", "--date-from", "20250523", "--date-to", "20250523",
                      "--c", "0.5", "--name", "cli-learned")  # fmt: skip
    assert trained.returncode == 1, trained.stdout + trained.stderr
    assert re.search(r"^FAILED job_\w+ \(TRAINING\).*at least 20", trained.stdout, re.MULTILINE)


async def test_jobs_lists_recent_jobs_in_a_table(
    cli_env: dict[str, str], replay: httpx.AsyncClient
) -> None:
    detached = run_cli(cli_env, "collect", "--date", "20250530", "--meet", "2", "--races", "8",
                       "--no-enrich", "--detach")  # fmt: skip
    assert detached.returncode == 0, detached.stderr
    job_id = detached.stdout.strip()
    assert re.fullmatch(r"job_[0-9a-f]+", job_id)
    assert run_cli(cli_env, "watch", job_id).returncode == 0

    listed = run_cli(cli_env, "jobs", "--kind", "collection", "--first", "5")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if job_id in line)
    assert re.search(r"COLLECTION\s*│\s*COMPLETED\s*│\s*100%", row), row
    assert "newest first" in listed.stdout

    only_failed = run_cli(cli_env, "jobs", "--status", "failed")
    assert only_failed.returncode == 0
    assert job_id not in only_failed.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["collect", "--date", "20250230", "--meet", "1"],
         "error: BAD_USER_INPUT: '20250230' is not a real calendar date (field input.date)"),
        (["watch", "job_nope"], "error: NOT_FOUND: no job with id job_nope"),
        (["improve", "--prompt", "market-v1.0"],
         "error: BAD_USER_INPUT: only FORM, LLM and LEARNED prompts can be improved "
         "(field input.promptId)"),
        (["train", "--date-from", "20250111", "--date-to", "20250101"],
         "error: BAD_USER_INPUT: dateFrom is after dateTo (field input.dateFrom)"),
        (["train", "--date-from", "20250101", "--date-to", "20250111", "--target", "place"],
         "error: BAD_USER_INPUT: target must be one of ['win', 'top3'] (field input.params)"),
        (["jobs", "--url", "http://127.0.0.1:9/graphql"],
         "error: cannot reach http://127.0.0.1:9/graphql"),
    ],
)  # fmt: skip
def test_a_failed_request_is_one_line_and_exit_code_2(
    cli_env: dict[str, str], args: list[str], expected: str
) -> None:
    result = run_cli(cli_env, *args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
