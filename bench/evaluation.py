"""Evaluate prompts over every recorded race, improve the form prompt, and time predictors.

    python -m bench.evaluation [--iterations 20] [--llm-races 48]

Imports the recorded fixtures (2025-01 and 2025-05) into a fresh PostgreSQL database
(TEST_POSTGRES_URL, TEST_REDIS_URL as for the tests), then prints:
- the `form` prompt's (also with confidenceThreshold 25, to show deferral) and the
  `market` prompt's (final odds) metrics over all races, as defined in docs/metrics.md;
- `improvePrompt` on `form`: later-part scores of the default weights and of the champion;
- races evaluated per second for `form`, and for `llm` against the fake chat server with
  200 ms latency at parallelism 1, 4 and 16.
Everything it creates (database, Redis keys) is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select
from sqlmodel import col

from bench.scratch import run_here, scratch_runtime
from kra_graphql.collection.params import ImportParams
from kra_graphql.embedded_redis import free_port
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.kinds import REGISTRY
from kra_graphql.jobs.models import JobKind
from kra_graphql.jobs.runner import JobHandler
from kra_graphql.prediction.fake_llm import Behaviour, create_app
from kra_graphql.prediction.improvement import ImproveParams
from kra_graphql.prediction.service import EvaluationParams
from kra_graphql.races.models import Race
from kra_graphql.runtime import Runtime

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "kra" / "API214_1"


def _figure(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def show(label: str, metrics: dict[str, Any]) -> None:
    """The figures of docs/metrics.md: accuracy over judged (valid, not deferred)
    predictions, `*_all` over every scored race."""
    print(
        f"{label:>24}: {metrics['races']} races ({metrics['excluded']} excluded, "
        f"{metrics['judged']} judged): success {metrics['success_rate']:.3f} (all "
        f"{metrics['success_rate_all']:.3f}), avg correct {metrics['average_correct']:.3f} (all "
        f"{metrics['average_correct_all']:.3f}), win hit {metrics['win_hit_rate']:.3f}, exact "
        f"order {metrics['exact_order_rate']:.3f}, top-3 set {metrics['top3_set_rate']:.3f}, "
        f"coverage {metrics['coverage']:.2f}, valid {metrics['valid_rate']:.2f}, return/bet "
        f"{_figure(metrics['return_per_bet'], '+.3f')}, brier {_figure(metrics['brier'], '.3f')}, "
        f"log-loss {_figure(metrics['log_loss'], '.3f')}, ECE "
        f"{_figure(metrics['calibration_error'], '.3f')}, NDCG@3 "
        f"{_figure(metrics['ndcg_at_3'], '.3f')}"
    )
    print(
        f"{'':>24}  | {label} | {metrics['races']} | {metrics['success_rate']:.3f} | "
        f"{metrics['success_rate_all']:.3f} | {metrics['average_correct']:.3f} | "
        f"{metrics['average_correct_all']:.3f} | {metrics['win_hit_rate']:.3f} | "
        f"{metrics['coverage']:.2f} | {_figure(metrics['brier'], '.3f')} | "
        f"{_figure(metrics['log_loss'], '.3f')} | {_figure(metrics['calibration_error'], '.3f')} | "
        f"{_figure(metrics['ndcg_at_3'], '.3f')} | {_figure(metrics['return_per_bet'], '+.3f')} |"
    )


async def evaluate(
    runtime: Runtime, handlers: dict[str, JobHandler], prompt: str, **options: Any
) -> tuple[dict[str, Any], float]:
    params = EvaluationParams(prompt_id=prompt, **options)
    started = time.perf_counter()
    job = await run_here(
        runtime, JobKind.EVALUATION, params.to_json(), handlers[JobKind.EVALUATION]
    )
    seconds = time.perf_counter() - started
    assert job.result is not None
    return job.result["metrics"], seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=40)
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
        handlers = REGISTRY.handlers(WorkerClients.create(runtime.settings, runtime.redis, http))
        paths = [str(FIXTURES / day) for day in sorted(os.listdir(FIXTURES))]
        started = time.perf_counter()
        imported = await run_here(
            runtime, JobKind.IMPORT, ImportParams(paths).to_json(), handlers[JobKind.IMPORT]
        )
        count = len((imported.result or {}).get("raceIds", []))
        print(f"imported {count} races in {time.perf_counter() - started:.1f} s")

        form, form_s = await evaluate(runtime, handlers, "form-weights-v1.0", race_ids=None,
                                      date_from=None, parallelism=8)  # fmt: skip
        show("form (form-weights-v1.0)", form)
        print(f"{'':>24}  {form['races'] + form['excluded']} races in {form_s:.1f} s = "
              f"{(form['races'] + form['excluded']) / form_s:.1f} races/s")  # fmt: skip
        deferring, _ = await evaluate(runtime, handlers, "form-weights-v1.0",
                                      confidence_threshold=25, parallelism=8)  # fmt: skip
        show("form, threshold 25", deferring)
        market, _ = await evaluate(runtime, handlers, "market-v1.0", use_final_odds=True,
                                   parallelism=8)  # fmt: skip
        show("market (final odds)", market)

        improve = ImproveParams(prompt_id="form-weights-v1.0", iterations=args.iterations,
                                sample_size=300, seed=1)  # fmt: skip
        improver = handlers[JobKind.PROMPT_IMPROVEMENT]
        improved = await run_here(runtime, JobKind.PROMPT_IMPROVEMENT, improve.to_json(), improver)
        report = improved.result or {}
        promoted = sum(1 for step in report.get("iterations", []) if step["promoted"])
        print(
            f"improvePrompt form ({args.iterations} iterations, seed 1): later part "
            f"({report.get('laterRaces')} races) avg correct "
            f"{report['startingLater']['averageCorrect']:.4f} -> "
            f"{report['championLater']['averageCorrect']:.4f}, success "
            f"{report['startingLater']['successRate']:.4f} -> "
            f"{report['championLater']['successRate']:.4f}; champion {report['championId']}, "
            f"{promoted} promotion(s)"
        )

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
            metrics, seconds = await evaluate(
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
