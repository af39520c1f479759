"""Every strategy on one temporal split of the recorded races, and how fast they run.

    python -m bench.evaluation [--iterations 40] [--later-share 0.3] [--llm-races 48]

Imports the recorded fixtures (2025-01 and 2025-05) into a fresh PostgreSQL database
(TEST_POSTGRES_URL, TEST_REDIS_URL as for the tests), splits the races with results by
date (the later share from its first day on: the later races), then prints for the later
races, the same races for every row, the figures of docs/metrics.md:
- FORM with its default weights, and as improved by improvePrompt on the earlier races;
- MARKET on pre-race odds (the recorded cards have none: the row says so) and on final odds;
- LEARNED trained by trainModel on the earlier races (it validates on their own tail), and
  as improved by improvePrompt on the earlier races.
Then: training time (on the earlier races, and on all of them), the time to predict one
race with LEARNED (card and model), races evaluated per second for FORM, and for LLM
against the fake chat server with 200 ms latency at parallelism 1, 4 and 16. Everything
it creates is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select, text
from sqlmodel import col

from bench.scratch import run_here, scratch_runtime
from kra_graphql.collection.params import ImportParams
from kra_graphql.embedded_redis import free_port
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.kinds import REGISTRY
from kra_graphql.jobs.models import Job, JobKind
from kra_graphql.jobs.runner import JobHandler
from kra_graphql.prediction.fake_llm import Behaviour, create_app
from kra_graphql.prediction.improvement import ImproveParams
from kra_graphql.prediction.service import EvaluationParams, Predictors, answer_race, get_prompt
from kra_graphql.prediction.training import TrainParams
from kra_graphql.races.models import Race, ResultStatus
from kra_graphql.runtime import Runtime

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "kra" / "API214_1"
COLUMNS = (
    ("races", "races", "d"),
    ("success", "success_rate", ".3f"),
    ("avg correct", "average_correct", ".3f"),
    ("win hit", "win_hit_rate", ".3f"),
    ("NDCG@3", "ndcg_at_3", ".3f"),
    ("log-loss", "log_loss", ".3f"),
    ("Brier", "brier", ".3f"),
    ("ECE", "calibration_error", ".3f"),
    ("field log-loss", "field_log_loss", ".3f"),
    ("field Brier", "field_brier", ".3f"),
)


def row(label: str, metrics: dict[str, Any] | None, note: str = "") -> str:
    """One markdown table row; `n/a` for a figure the strategy cannot give."""
    cells = [label]
    for _, key, spec in COLUMNS:
        value = metrics.get(key) if metrics else None
        cells.append("n/a" if value is None else format(value, spec))
    return "| " + " | ".join(cells) + " |" + (f" {note}" if note else "")


async def run(
    runtime: Runtime, handlers: dict[str, JobHandler], kind: JobKind, params: Any
) -> tuple[Job, float]:
    started = time.perf_counter()
    job = await run_here(runtime, kind, params.to_json(), handlers[kind])
    return job, time.perf_counter() - started


async def evaluate(
    runtime: Runtime, handlers: dict[str, JobHandler], prompt: str, **options: Any
) -> tuple[dict[str, Any], Job, float]:
    params = EvaluationParams(prompt_id=prompt, **{"parallelism": 8, **options})
    job, seconds = await run(runtime, handlers, JobKind.EVALUATION, params)
    assert job.result is not None
    return job.result["metrics"], job, seconds


async def split_day(runtime: Runtime, later_share: float) -> tuple[date, date, date]:
    """The first and last day with results, and the first day of the later races."""
    async with runtime.sessions() as session:
        days = (
            await session.execute(
                select(col(Race.race_date), func.count())
                .where(col(Race.result_status) == ResultStatus.RESULTED)
                .group_by(col(Race.race_date))
                .order_by(col(Race.race_date))
            )
        ).all()
    total = sum(count for _, count in days)
    seen = 0
    for day, count in days:
        if seen >= total * (1 - later_share):
            return days[0][0], days[-1][0], day
        seen += count
    raise RuntimeError("no later races")


async def predict_times(
    runtime: Runtime, predictors: Predictors, prompt_id: str, race_ids: list[str]
) -> list[float]:
    """Milliseconds per race to build its card and predict it, as predictRace does."""
    prompt = await get_prompt(runtime, prompt_id)
    predictor = predictors.for_prompt(prompt)
    times = []
    for race_id in race_ids:
        started = time.perf_counter()
        await answer_race(runtime, predictor, prompt, race_id, False)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--later-share", type=float, default=0.3)
    parser.add_argument("--llm-races", type=int, default=48)
    args = parser.parse_args()

    llm_port = free_port()
    llm = uvicorn.Server(
        uvicorn.Config(create_app(Behaviour(latency_s=0.2)), port=llm_port, log_level="warning")
    )
    serving = asyncio.create_task(llm.serve())
    async with (
        scratch_runtime(llm_base_url=f"http://127.0.0.1:{llm_port}", llm_concurrency=64) as runtime,
        httpx.AsyncClient() as http,
    ):
        clients = WorkerClients.create(runtime.settings, runtime.redis, http)
        handlers = REGISTRY.handlers(clients)
        paths = [str(FIXTURES / day) for day in sorted(os.listdir(FIXTURES))]
        started = time.perf_counter()
        imported = await run_here(
            runtime, JobKind.IMPORT, ImportParams(paths).to_json(), handlers[JobKind.IMPORT]
        )
        count = len((imported.result or {}).get("raceIds", []))
        print(f"imported {count} races in {time.perf_counter() - started:.1f} s")
        async with runtime.write() as session:
            # What autovacuum does within a minute of a bulk load: without table statistics
            # the planner guesses nested loops for the cards' history queries.
            await session.execute(text("ANALYZE"))
        first, last, later_from = await split_day(runtime, args.later_share)
        fit_to = date.fromordinal(later_from.toordinal() - 1)
        print(f"earlier races: {first} to {fit_to}; later races: {later_from} to {last}")
        later = {"date_from": later_from}

        rows: list[str] = []
        form, _, form_s = await evaluate(runtime, handlers, "form-weights-v1.0", **later)
        rows.append(row("FORM form-weights-v1.0", form))

        improve = ImproveParams(prompt_id="form-weights-v1.0", iterations=args.iterations,
                                sample_size=300, seed=1, date_to=fit_to)  # fmt: skip
        improved, _ = await run(runtime, handlers, JobKind.PROMPT_IMPROVEMENT, improve)
        champion = (improved.result or {})["championId"]
        form_improved, _, _ = await evaluate(runtime, handlers, champion, **later)
        rows.append(row(f"FORM improved ({champion})", form_improved))

        pre_race, pre_job, _ = await evaluate(runtime, handlers, "market-v1.0", **later)
        refused = len((pre_job.result or {}).get("failures", []))
        rows.append(
            row("MARKET, pre-race odds", pre_race if pre_race["races"] else None,
                f"({refused} races refused: no recorded card has odds before the race)")
        )  # fmt: skip
        final_odds = {"use_final_odds": True, **later}
        market, _, _ = await evaluate(runtime, handlers, "market-v1.0", **final_odds)
        rows.append(row("MARKET, final odds", market))

        training = TrainParams(date_from=first, date_to=fit_to, seed=1)
        trained, train_s = await run(runtime, handlers, JobKind.TRAINING, training)
        model_id = (trained.result or {})["promptId"]
        learned, _, _ = await evaluate(runtime, handlers, model_id, **later)
        rows.append(row(f"LEARNED ({model_id})", learned))

        improve_model = ImproveParams(prompt_id=model_id, iterations=max(args.iterations // 4, 1),
                                      sample_size=300, seed=1, date_to=fit_to)  # fmt: skip
        tuned, tune_s = await run(runtime, handlers, JobKind.PROMPT_IMPROVEMENT, improve_model)
        tuned_id = (tuned.result or {})["championId"]
        learned_tuned, _, _ = await evaluate(runtime, handlers, tuned_id, **later)
        rows.append(row(f"LEARNED improved ({tuned_id})", learned_tuned))

        print(f"\nlater races ({later_from} to {last}); figures as defined in docs/metrics.md\n")
        print("| strategy | " + " | ".join(name for name, _, _ in COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 1) + "|")
        for line in rows:
            print(line)

        result = trained.result or {}
        every = TrainParams(date_from=first, date_to=last, seed=1, name="learned-everything")
        trained_all, all_s = await run(runtime, handlers, JobKind.TRAINING, every)
        everything = trained_all.result or {}
        print(
            f"\ntrainModel on the earlier races: {result['fitRaces']} fitted, "
            f"{result['validationRaces']} validated, in {train_s:.1f} s; on every recorded "
            f"race: {everything['fitRaces']} fitted, {everything['validationRaces']} validated, "
            f"in {all_s:.1f} s (reading the cards included); improvePrompt on the first, "
            f"{improve_model.iterations} iterations: {tune_s:.1f} s"
        )
        async with runtime.sessions() as session:
            sample = list(
                (
                    await session.scalars(
                        select(col(Race.id))
                        .where(col(Race.race_date) >= later_from)
                        .order_by(col(Race.id))
                        .limit(60)
                    )
                ).all()
            )
        times = await predict_times(runtime, Predictors(runtime.settings, http), model_id, sample)
        print(
            f"predict one race with LEARNED (card + model): median "
            f"{statistics.median(times):.1f} ms, p95 "
            f"{statistics.quantiles(times, n=20)[-1]:.1f} ms over {len(times)} races"
        )
        races = form["races"] + form["excluded"]
        print(f"FORM evaluation: {races} races in {form_s:.1f} s = {races / form_s:.1f} races/s")

        async with runtime.sessions() as session:
            ids = (
                await session.scalars(
                    select(col(Race.id))
                    .where(col(Race.result_status) == "RESULTED")
                    .order_by(col(Race.id))
                    .limit(args.llm_races)
                )
            ).all()
        for parallelism in (1, 4, 16):
            metrics, _, seconds = await evaluate(
                runtime, handlers, "llm-prompt-v1.0", race_ids=list(ids), parallelism=parallelism
            )
            print(
                f"llm, 200 ms fake server, parallelism {parallelism:>2}: {len(ids)} races in "
                f"{seconds:.1f} s = {len(ids) / seconds:.1f} races/s (valid "
                f"{metrics['valid_rate']:.2f})"
            )
    llm.should_exit = True
    await serving


if __name__ == "__main__":
    asyncio.run(main())
