"""Improve a FORM prompt: a seeded search over its weights on a temporal split.

Races with known results are ordered by date. The earlier share tunes candidates; a
candidate becomes champion only if it beats the champion on a sample of the earlier
part and then on the later part, which tuning never looks at. Every candidate is
stored as a prompt version with its scores and the reason it was or was not promoted.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from kra_graphql.errors import BadUserInput
from kra_graphql.jobs.reporter import JobReporter
from kra_graphql.jobs.runner import JobOutcome
from kra_graphql.prediction.card import RaceCard, build_card
from kra_graphql.prediction.metrics import RaceResult, ScoredPrediction, evaluate
from kra_graphql.prediction.models import PredictorKind, Prompt
from kra_graphql.prediction.predictors import FORM_FEATURES, FormPredictor, FormSettings
from kra_graphql.prediction.results import load_results
from kra_graphql.prediction.service import EvaluationParams, get_prompt, races_with_results
from kra_graphql.races.dates import parse_race_date
from kra_graphql.runtime import Runtime

MAX_ITERATIONS = 100
MAX_SAMPLE = 5000
# Each weight moves by up to this share of its size (at least this much in absolute terms).
STEP = 0.5


@dataclass(frozen=True, slots=True)
class ImproveParams:
    prompt_id: str
    iterations: int = 10
    sample_size: int = 200
    seed: int = 0
    train_share: float = 0.7
    date_from: date | None = None
    date_to: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "promptId": self.prompt_id,
            "iterations": self.iterations,
            "sampleSize": self.sample_size,
            "seed": self.seed,
            "trainShare": self.train_share,
            "dateFrom": self.date_from.isoformat() if self.date_from else None,
            "dateTo": self.date_to.isoformat() if self.date_to else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImproveParams:
        def day(name: str) -> date | None:
            value = data.get(name)
            return parse_race_date(value, field=name) if value else None

        return cls(
            prompt_id=data["promptId"],
            iterations=int(data.get("iterations", 10)),
            sample_size=int(data.get("sampleSize", 200)),
            seed=int(data.get("seed", 0)),
            train_share=float(data.get("trainShare", 0.7)),
            date_from=day("dateFrom"),
            date_to=day("dateTo"),
        )

    def check(self, prefix: str = "input") -> ImproveParams:
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise BadUserInput(f"1 to {MAX_ITERATIONS}", field=f"{prefix}.iterations")
        if not 10 <= self.sample_size <= MAX_SAMPLE:
            raise BadUserInput(f"10 to {MAX_SAMPLE}", field=f"{prefix}.sampleSize")
        if not 0.5 <= self.train_share <= 0.9:
            raise BadUserInput("between 0.5 and 0.9", field=f"{prefix}.trainShare")
        return self


@dataclass(frozen=True, slots=True)
class Score:
    average_correct: float
    success_rate: float
    races: int

    def beats(self, other: Score) -> bool:
        return (self.average_correct, self.success_rate) > (
            other.average_correct,
            other.success_rate,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "averageCorrect": round(self.average_correct, 4),
            "successRate": round(self.success_rate, 4),
            "races": self.races,
        }


def score(
    parameters: Mapping[str, Any],
    cards: Mapping[str, RaceCard],
    results: Mapping[str, RaceResult],
    race_ids: Sequence[str],
) -> Score:
    predictor = FormPredictor()
    pairs = []
    for race_id in race_ids:
        answer = predictor.answer(cards[race_id], parameters)
        pairs.append((ScoredPrediction(answer.picks, answer.confidence), results[race_id]))
    overall = evaluate(pairs).overall
    return Score(overall.average_correct, overall.success_rate, overall.races)


def mutate(weights: Mapping[str, float], rng: random.Random) -> dict[str, float]:
    """Move two to four weights at random; the rest stay."""
    moved = dict(weights)
    for name in rng.sample(list(FORM_FEATURES), rng.randint(2, 4)):
        size = max(abs(moved[name]), 0.2) * STEP
        moved[name] = round(moved[name] + rng.uniform(-size, size), 4)
    return moved


async def improve_prompt(
    runtime: Runtime, reporter: JobReporter, params: ImproveParams
) -> JobOutcome:
    base = await get_prompt(runtime, params.prompt_id)
    if base.predictor != PredictorKind.FORM:
        raise BadUserInput("only FORM prompts can be improved", field="promptId")
    race_ids = await races_with_results(
        runtime,
        EvaluationParams(prompt_id=base.id, date_from=params.date_from, date_to=params.date_to),
    )
    await reporter.set_total(params.iterations + 1, step="reading race cards")
    async with runtime.sessions() as session:
        results = await load_results(session, race_ids)
        scorable = [race_id for race_id in race_ids if results[race_id].top3 is not None]
        cards = {
            race_id: await build_card(session, race_id, use_final_odds=False)
            for race_id in scorable
        }
    scorable = [race_id for race_id in scorable if len(cards[race_id].starters) >= 3]
    cut = int(len(scorable) * params.train_share)
    early, late = scorable[:cut], scorable[cut:]
    if len(early) < 10 or len(late) < 5:
        raise BadUserInput("too few races with results to split", field="promptId")
    await reporter.log(f"{len(early)} earlier races tune, {len(late)} later races decide")
    await reporter.advance()

    rng = random.Random(params.seed)  # noqa: S311 - a reproducible search, not secrets
    champion = base
    champion_weights = dict(FormSettings.from_parameters(base.parameters).weights)
    champion_late = score(base.parameters, cards, results, late)
    start_late = champion_late
    history: list[dict[str, Any]] = []
    next_patch = await _next_patch(runtime, base)
    for iteration in range(1, params.iterations + 1):
        await reporter.step(f"iteration {iteration}")
        sample = rng.sample(early, min(params.sample_size, len(early)))
        candidate_weights = mutate(champion_weights, rng)
        candidate_parameters = {**_tunable(champion.parameters), "weights": candidate_weights}
        # Scoring is pure CPU: keep the worker's event loop free meanwhile.
        champion_early = await asyncio.to_thread(score, champion.parameters, cards, results, sample)
        candidate_early = await asyncio.to_thread(
            score, candidate_parameters, cards, results, sample
        )
        candidate_late = await asyncio.to_thread(score, candidate_parameters, cards, results, late)
        if not candidate_early.beats(champion_early):
            promoted, reason = False, "not better than the champion on the earlier sample"
        elif not candidate_late.beats(champion_late):
            promoted, reason = False, "better on the earlier sample, not on the later races"
        else:
            promoted, reason = True, "better on the earlier sample and on the later races"
        stored = await _store_candidate(
            runtime,
            base,
            champion,
            next_patch,
            {
                **candidate_parameters,
                "improvement": {
                    "job": reporter.job_id,
                    "iteration": iteration,
                    "earlier": candidate_early.as_json(),
                    "later": candidate_late.as_json(),
                    "championEarlier": champion_early.as_json(),
                    "championLater": champion_late.as_json(),
                    "promoted": promoted,
                    "reason": reason,
                },
            },
        )
        next_patch = max(next_patch, int(stored.version.rsplit(".", 1)[1])) + 1
        history.append({"promptId": stored.id, "promoted": promoted, "reason": reason,
                        "later": candidate_late.as_json()})  # fmt: skip
        await reporter.log(
            f"iteration {iteration}: {stored.id} later avg correct "
            f"{candidate_late.average_correct:.3f} vs {champion_late.average_correct:.3f}: "
            + ("promoted" if promoted else reason)
        )
        if promoted:
            champion, champion_weights, champion_late = stored, candidate_weights, candidate_late
        await reporter.advance()
    return JobOutcome(
        result={
            "championId": champion.id,
            "startingLater": start_late.as_json(),
            "championLater": champion_late.as_json(),
            "earlierRaces": len(early),
            "laterRaces": len(late),
            "iterations": history,
        }
    )


def _tunable(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in parameters.items() if key != "improvement"}


def _version_root(version: str) -> str:
    parts = version.split(".")
    return ".".join(parts[:2])


async def _next_patch(runtime: Runtime, base: Prompt) -> int:
    root = _version_root(base.version)
    async with runtime.sessions() as session:
        versions = (
            await session.scalars(select(col(Prompt.version)).where(col(Prompt.name) == base.name))
        ).all()
    patches = [
        int(version.rsplit(".", 1)[1])
        for version in versions
        if version.startswith(root + ".") and version.count(".") == root.count(".") + 1
    ]
    return max(patches, default=0) + 1


async def _store_candidate(
    runtime: Runtime, base: Prompt, parent: Prompt, patch: int, parameters: dict[str, Any]
) -> Prompt:
    """A re-run of the same job finds the candidates it stored before instead of adding more."""
    marker = parameters["improvement"]
    async with runtime.sessions() as session:
        siblings = (
            await session.scalars(select(Prompt).where(col(Prompt.name) == base.name))
        ).all()
    for sibling in siblings:
        earlier = sibling.parameters.get("improvement") or {}
        if earlier.get("job") == marker["job"] and earlier.get("iteration") == marker["iteration"]:
            return sibling
    version = f"{_version_root(base.version)}.{patch}"
    prompt = Prompt(
        id=f"{base.name}-{version}",
        name=base.name,
        version=version,
        text=base.text,
        predictor=base.predictor,
        parameters=parameters,
        parent_id=parent.id,
    )
    async with runtime.write() as session:
        session.add(prompt)
    return prompt
