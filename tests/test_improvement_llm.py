"""improvePrompt on an LLM prompt: the real worker rewrites it through the fake LLM server.

The fake orders runners by the `rank by:` line of the prompt and its rewrites change that
line, so a rewrite can be better (youngest first beats lowest gates on these races) or
worse (highest gates first) than the champion, as the fake is told.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import select
from sqlmodel import col

from kra_graphql.config import Settings
from kra_graphql.errors import BadUserInput
from kra_graphql.jobs.events import JobEvent, JobEventType, events_channel
from kra_graphql.jobs.models import Job, JobKind, JobLog, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.reporter import JobReporter
from kra_graphql.jobs.service import retry_job, submit_job
from kra_graphql.prediction.card import build_card
from kra_graphql.prediction.fake_llm import ranked_gates
from kra_graphql.prediction.improvement import ImproveParams, improve_prompt
from kra_graphql.prediction.metrics import correct_count
from kra_graphql.prediction.models import Prompt
from kra_graphql.prediction.results import load_results
from kra_graphql.prediction.service import EvaluationParams, races_with_results
from kra_graphql.races.dates import parse_race_date
from kra_graphql.runtime import Runtime
from tests.jobs_support import result_of, run_to_end, wait_job

pytestmark = pytest.mark.usefixtures("worker_process", "january")

LLM = "llm-prompt-v1.0"
START, END = parse_race_date("20250101", field="d"), parse_race_date("20250112", field="d")
PROMOTED = "better on the earlier sample and on the later races"


def improve(iterations: int, *, sample_size: int = 200, seed: int = 3) -> dict[str, Any]:
    return ImproveParams(
        prompt_id=LLM,
        iterations=iterations,
        sample_size=sample_size,
        seed=seed,
        date_from=START,
        date_to=END,
        parallelism=8,
    ).to_json()


async def candidates_of(runtime: Runtime, job_id: str) -> list[Prompt]:
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(Prompt).where(col(Prompt.name) == "llm-prompt"))).all()
    mine = [row for row in rows if (row.parameters.get("improvement") or {}).get("job") == job_id]
    return sorted(mine, key=lambda row: row.parameters["improvement"]["iteration"])


async def later_correct(runtime: Runtime, order: str) -> tuple[int, int]:
    """Picks in the top three over the later races, and their count, for the fake's order:
    worked out here from the cards, apart from the job."""
    race_ids = await races_with_results(
        runtime, EvaluationParams(prompt_id=LLM, date_from=START, date_to=END)
    )
    async with runtime.sessions() as session:
        results = await load_results(session, race_ids)
        cards = [
            await build_card(session, race_id, use_final_odds=False)
            for race_id in race_ids
            if results[race_id].top3 is not None
        ]
    cards = [card for card in cards if len(card.starters) >= 3]
    later = cards[int(len(cards) * 0.7) :]
    correct = 0
    for card in later:
        top3 = results[card.race_id].top3
        assert top3 is not None
        correct += correct_count(ranked_gates(card.as_json()["runners"], order)[:3], top3)
    return correct, len(later)


async def run_with_events(
    runtime: Runtime, queue: JobQueue, settings: Settings, params: dict[str, Any]
) -> tuple[Job, list[JobEvent]]:
    async with runtime.redis.pubsub() as pubsub:
        await pubsub.subscribe(events_channel(settings.redis_prefix))
        job = await submit_job(runtime, queue, JobKind.PROMPT_IMPROVEMENT, params)
        events: list[JobEvent] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is None:
                continue
            event = JobEvent.decode(message["data"])
            if event.job_id == job.id:
                events.append(event)
                if event.type is JobEventType.STATUS and JobStatus(event.status).is_terminal:
                    break
    return await wait_job(runtime, job.id), events


async def test_a_better_rewrite_is_promoted_and_worse_ones_are_not(
    runtime: Runtime, job_queue: JobQueue, settings: Settings, fake_llm: httpx.AsyncClient
) -> None:
    await fake_llm.post("/_admin/config", json={"rewrite_orders": ["age", "-gate"]})
    job, events = await run_with_events(runtime, job_queue, settings, improve(3))
    assert job.status == JobStatus.COMPLETED, job.error
    report = result_of(job)
    first, second, third = await candidates_of(runtime, job.id)

    # Iteration 1 asks for youngest first: better on both parts, so it becomes champion.
    assert first.parent_id == LLM
    assert first.predictor == "LLM"
    assert first.text.startswith("rank by: age\n")
    assert "{race_card}" in first.text
    record = first.parameters["improvement"]
    assert (record["promoted"], record["reason"]) == (True, PROMOTED)
    assert record["rationale"] == "try age order"
    assert record["earlier"]["races"] == report["earlierRaces"]  # the sample is all of them
    assert record["later"]["races"] == report["laterRaces"]
    assert record["earlier"]["averageCorrect"] > record["championEarlier"]["averageCorrect"]
    # The scores are those of the LLM's answers to the rewritten text.
    assert (record["later"]["correct"], record["later"]["races"]) == await later_correct(
        runtime, "age"
    )
    starting = report["startingLater"]
    assert (starting["correct"], starting["races"]) == await later_correct(runtime, "gate")

    # Iterations 2 and 3 rewrite the new champion to highest gates first: kept, not promoted.
    for worse in (second, third):
        assert worse.parent_id == first.id
        assert worse.text.startswith("rank by: -gate\n")
        record = worse.parameters["improvement"]
        assert record["promoted"] is False
        assert record["reason"] == "not better than the champion on the earlier sample"
        assert record["championLater"] == first.parameters["improvement"]["later"]
        assert record["earlier"]["averageCorrect"] < record["championEarlier"]["averageCorrect"]

    assert report["championId"] == first.id
    assert report["championLater"] == first.parameters["improvement"]["later"]
    assert report["championLater"]["averageCorrect"] > report["startingLater"]["averageCorrect"]
    assert [step["promptId"] for step in report["iterations"]] == [first.id, second.id, third.id]
    assert report["failures"] == []
    assert (await fake_llm.get("/_admin/stats")).json()["rewrites"] == 3

    # Progress: a step and an advance per iteration, in order, then the terminal status.
    steps = [e.current_step for e in events if e.type is JobEventType.PROGRESS]
    for iteration in (1, 2, 3):
        assert f"iteration {iteration}" in steps
    assert steps.index("iteration 1") < steps.index("iteration 2") < steps.index("iteration 3")
    advanced = [e.completed_steps for e in events if e.type is JobEventType.PROGRESS]
    assert sorted(set(advanced)) == [0, 1, 2, 3, 4]
    assert advanced == sorted(advanced)
    logs = [e.message or "" for e in events if e.type is JobEventType.LOG]
    lines = [line for line in logs if line.startswith("iteration")]
    assert [line.split(":")[0] for line in lines] == ["iteration 1", "iteration 2", "iteration 3"]
    assert lines[0].startswith(f"iteration 1: {first.id} ")
    assert lines[0].endswith(": promoted")
    assert lines[2].endswith(": not better than the champion on the earlier sample")
    assert events[-1].status == JobStatus.COMPLETED
    assert events[-1].progress == 100


async def test_a_worse_rewrite_is_stored_but_the_prompt_stays_champion(
    runtime: Runtime, job_queue: JobQueue, fake_llm: httpx.AsyncClient
) -> None:
    await fake_llm.post("/_admin/config", json={"rewrite_orders": ["-gate"]})
    job = await run_to_end(runtime, job_queue, JobKind.PROMPT_IMPROVEMENT, improve(2, seed=4))
    assert job.status == JobStatus.COMPLETED, job.error
    report = result_of(job)
    candidates = await candidates_of(runtime, job.id)
    assert len(candidates) == 2
    for candidate in candidates:
        record = candidate.parameters["improvement"]
        assert candidate.parent_id == LLM
        assert record["promoted"] is False
        assert record["earlier"]["averageCorrect"] < record["championEarlier"]["averageCorrect"]
        assert (record["later"]["correct"], record["later"]["races"]) == await later_correct(
            runtime, "-gate"
        )
    assert report["championId"] == LLM
    assert report["championLater"] == report["startingLater"]


@pytest.mark.parametrize(
    ("rewrite", "reason"),
    [
        ("malformed", "unusable rewrite: no JSON object with a prompt in the reply"),
        ("no_placeholder", "unusable rewrite: the rewritten prompt lacks the {race_card}"),
        ("empty", "unusable rewrite: the rewritten prompt is empty"),
    ],
)
async def test_unusable_rewrites_are_reported_and_the_job_goes_on(
    runtime: Runtime, job_queue: JobQueue, fake_llm: httpx.AsyncClient, rewrite: str, reason: str
) -> None:
    await fake_llm.post("/_admin/config", json={"rewrite": rewrite})
    job = await run_to_end(runtime, job_queue, JobKind.PROMPT_IMPROVEMENT, improve(2, seed=5))
    assert job.status == JobStatus.COMPLETED, job.error
    assert (job.progress, job.completed_steps, job.total_steps) == (100, 3, 3)
    report = result_of(job)
    assert [step["iteration"] for step in report["iterations"]] == [1, 2]
    for step in report["iterations"]:
        assert step["promptId"] is None
        assert step["promoted"] is False
        assert step["reason"].startswith(reason)
        assert step["later"] is None
    assert report["championId"] == LLM
    assert report["failures"] == []
    assert await candidates_of(runtime, job.id) == []
    async with runtime.sessions() as session:
        warnings = (
            await session.scalars(
                select(col(JobLog.message)).where(
                    col(JobLog.job_id) == job.id, col(JobLog.level) == "WARNING"
                )
            )
        ).all()
    assert sorted(warnings) == [f"iteration {n}: no candidate: {report['iterations'][0]['reason']}"
                                for n in (1, 2)]  # fmt: skip


async def test_a_fenced_rewrite_is_read(
    runtime: Runtime, job_queue: JobQueue, fake_llm: httpx.AsyncClient
) -> None:
    await fake_llm.post("/_admin/config", json={"rewrite": "fenced"})
    job = await run_to_end(runtime, job_queue, JobKind.PROMPT_IMPROVEMENT, improve(1, seed=6))
    assert job.status == JobStatus.COMPLETED, job.error
    (candidate,) = await candidates_of(runtime, job.id)
    assert candidate.text.startswith("rank by: age\n")


async def test_an_unreachable_llm_fails_the_iteration_not_the_job(
    runtime: Runtime, job_queue: JobQueue, fake_llm: httpx.AsyncClient
) -> None:
    await fake_llm.post("/_admin/config", json={"rewrite": "error"})
    job = await run_to_end(runtime, job_queue, JobKind.PROMPT_IMPROVEMENT, improve(2, seed=7))
    assert job.status == JobStatus.PARTIAL, job.error
    report = result_of(job)
    assert [failure["iteration"] for failure in report["failures"]] == [1, 2]
    for failure in report["failures"]:
        assert failure["error"] == "no rewrite from the LLM: HTTP 503 (2 attempts)"
    assert [step["promptId"] for step in report["iterations"]] == [None, None]
    assert report["championId"] == LLM
    assert (await fake_llm.get("/_admin/stats")).json()["rewrites"] == 4  # 1 + 1 retry each


async def test_running_the_job_again_adds_no_prompt_and_asks_for_no_rewrite(
    runtime: Runtime, job_queue: JobQueue, fake_llm: httpx.AsyncClient
) -> None:
    await fake_llm.post("/_admin/config", json={"rewrite_orders": ["age", "-gate"]})
    job = await run_to_end(runtime, job_queue, JobKind.PROMPT_IMPROVEMENT, improve(2, seed=8))
    assert job.status == JobStatus.COMPLETED, job.error
    before = await candidates_of(runtime, job.id)
    assert len(before) == 2
    rewrites = (await fake_llm.get("/_admin/stats")).json()["rewrites"]
    # Later rewrites would differ: a re-run that asked again would store other texts.
    await fake_llm.post("/_admin/config", json={"rewrite_orders": ["rating"]})
    async with runtime.sessions() as session, session.begin():
        row = await session.get(Job, job.id)
        assert row is not None
        row.status = JobStatus.FAILED
    await retry_job(runtime, job_queue, job.id)
    rerun = await wait_job(runtime, job.id)
    assert rerun.status == JobStatus.COMPLETED, rerun.error
    after = await candidates_of(runtime, job.id)
    assert [(c.id, c.text, c.parent_id) for c in after] == [
        (c.id, c.text, c.parent_id) for c in before
    ]
    assert (await fake_llm.get("/_admin/stats")).json()["rewrites"] == rewrites
    assert result_of(rerun)["iterations"] == result_of(job)["iterations"]
    assert result_of(rerun)["championId"] == result_of(job)["championId"] == before[0].id


async def test_without_an_llm_endpoint_the_job_says_what_to_set(
    runtime: Runtime, job_queue: JobQueue
) -> None:
    reporter = JobReporter(runtime, Job(kind=JobKind.PROMPT_IMPROVEMENT, parameters={}))
    with pytest.raises(BadUserInput, match="set LLM_BASE_URL"):
        await improve_prompt(runtime, reporter, ImproveParams.from_json(improve(1)))


IMPROVE = "mutation I($input: ImprovePromptInput!) { improvePrompt(input: $input) { id status } }"


async def test_improve_prompt_takes_llm_prompts_over_graphql(
    gql_session: AsyncClientSession, runtime: Runtime, fake_llm: httpx.AsyncClient
) -> None:
    input_ = {"promptId": LLM, "iterations": 1, "sampleSize": 10, "parallelism": 16,
              "dateFrom": "20250101", "dateTo": "2025-01-12"}  # fmt: skip
    created = await gql_session.execute(GraphQLRequest(IMPROVE, variable_values={"input": input_}))
    job = await wait_job(runtime, created["improvePrompt"]["id"])
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.parameters["parallelism"] == 16
    (step,) = result_of(job)["iterations"]
    assert step["promptId"] is not None
    for bad, field in [
        ({**input_, "promptId": "market-v1.0"}, "input.promptId"),
        ({**input_, "parallelism": 0}, "input.parallelism"),
        ({**input_, "parallelism": 65}, "input.parallelism"),
    ]:
        with pytest.raises(TransportQueryError) as raised:
            await gql_session.execute(GraphQLRequest(IMPROVE, variable_values={"input": bad}))
        extensions = (raised.value.errors or [{}])[0]["extensions"]
        assert (extensions["code"], extensions["field"]) == ("BAD_USER_INPUT", field)
