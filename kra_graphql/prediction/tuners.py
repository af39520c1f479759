"""How each predictor kind proposes candidates and predicts races during improvePrompt.

`FormTuner` moves a few weights of the champion at random (seeded). `LlmTuner` asks the
model to rewrite the champion's text in the light of its misses on the earlier sample,
and predicts with the real LLM predictor under a bound on concurrent requests.
`LearnedTuner` moves the champion's hyperparameters and refits on the earlier races.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from kra_graphql.prediction.card import RaceCard
from kra_graphql.prediction.dataset import ResultedRaces
from kra_graphql.prediction.fitting import (
    TARGETS,
    Hyperparameters,
    date_blocks,
    describe,
    model_parameters,
    train,
    validation_metrics,
)
from kra_graphql.prediction.learned import LogitModel, learned_answer
from kra_graphql.prediction.metrics import Picks, RaceResult
from kra_graphql.prediction.models import Prompt
from kra_graphql.prediction.predictors import (
    FORM_FEATURES,
    FormPredictor,
    FormSettings,
    LlmFailure,
    LlmPredictor,
)
from kra_graphql.prediction.rewrite import InvalidRewrite, failure_summary, request_rewrite

# Each weight moves by up to this share of its size (at least this much in absolute terms).
STEP = 0.5


@dataclass(frozen=True, slots=True)
class Candidate:
    text: str
    parameters: dict[str, Any]
    rationale: str | None = None  # the LLM's own account of its rewrite


class NoCandidate(Exception):
    """The iteration has nothing to try; the message says why.

    `failed` marks a failure of the service behind the tuner (an unreachable LLM) rather
    than an unusable proposal.
    """

    def __init__(self, reason: str, *, failed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failed = failed


# Realises a proposal, given the champion's picks on the earlier sample.
Proposal = Callable[[Mapping[str, Picks]], Awaitable[Candidate]]


class Tuner(Protocol):
    def propose(self, champion: Prompt, rng: random.Random) -> Proposal:
        """Draw whatever the proposal needs from the seeded generator now, so that a
        re-run that skips realising it stays in step."""
        ...

    async def picks(
        self, text: str, parameters: Mapping[str, Any], race_ids: Sequence[str]
    ) -> dict[str, Picks]: ...


def tunable(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A prompt's parameters without the record of the improvement that made it."""
    return {key: value for key, value in parameters.items() if key != "improvement"}


def mutate(weights: Mapping[str, float], rng: random.Random) -> dict[str, float]:
    """Move two to four weights at random; the rest stay."""
    moved = dict(weights)
    for name in rng.sample(list(FORM_FEATURES), rng.randint(2, 4)):
        size = max(abs(moved[name]), 0.2) * STEP
        moved[name] = round(moved[name] + rng.uniform(-size, size), 4)
    return moved


class FormTuner:
    def __init__(self, cards: Mapping[str, RaceCard]) -> None:
        self._cards = cards
        self._predictor = FormPredictor()

    def propose(self, champion: Prompt, rng: random.Random) -> Proposal:
        weights = mutate(FormSettings.from_parameters(champion.parameters).weights, rng)
        candidate = Candidate(champion.text, {**tunable(champion.parameters), "weights": weights})

        async def ready(_: Mapping[str, Picks]) -> Candidate:
            return candidate

        return ready

    async def picks(
        self, text: str, parameters: Mapping[str, Any], race_ids: Sequence[str]
    ) -> dict[str, Picks]:
        # Pure CPU: keep the worker's event loop free meanwhile.
        return await asyncio.to_thread(self._picks, parameters, race_ids)

    def _picks(self, parameters: Mapping[str, Any], race_ids: Sequence[str]) -> dict[str, Picks]:
        return {
            race_id: self._predictor.answer(self._cards[race_id], parameters).picks
            for race_id in race_ids
        }


class LlmTuner:
    def __init__(
        self,
        llm: LlmPredictor,
        cards: Mapping[str, RaceCard],
        results: Mapping[str, RaceResult],
        *,
        parallelism: int,
        check_cancelled: Callable[[], Awaitable[None]],
    ) -> None:
        self._llm = llm
        self._cards = cards
        self._results = results
        self._limit = asyncio.Semaphore(parallelism)
        self._check_cancelled = check_cancelled
        # One answer per prompt and race within a job: samples overlap, and a promoted
        # candidate keeps the later score it was promoted on.
        self._answers: dict[tuple[str, str, str], Picks] = {}

    def propose(self, champion: Prompt, rng: random.Random) -> Proposal:
        async def rewrite(champion_picks: Mapping[str, Picks]) -> Candidate:
            failures = failure_summary(champion_picks, self._cards, self._results)
            if not failures["misses"]:
                raise NoCandidate("the champion got all three right in every sampled race")
            try:
                rewritten = await request_rewrite(self._llm, champion.text, failures)
            except InvalidRewrite as error:
                raise NoCandidate(f"unusable rewrite: {error}") from None
            except LlmFailure as error:
                raise NoCandidate(f"no rewrite from the LLM: {error}", failed=True) from None
            return Candidate(rewritten.text, tunable(champion.parameters), rewritten.rationale)

        return rewrite

    async def picks(
        self, text: str, parameters: Mapping[str, Any], race_ids: Sequence[str]
    ) -> dict[str, Picks]:
        settings = json.dumps(parameters, sort_keys=True)

        async def one(race_id: str) -> tuple[str, Picks]:
            key = (text, settings, race_id)
            if key not in self._answers:
                async with self._limit:
                    await self._check_cancelled()
                    answer = await self._llm.answer(self._cards[race_id], text, parameters)
                self._answers[key] = answer.picks
            return race_id, self._answers[key]

        return dict(await asyncio.gather(*(one(race_id) for race_id in race_ids)))


class LearnedTuner:
    """Every version, the starting one included, is refitted on the earlier races with its
    own hyperparameters, so the later races that decide are never fitted; a candidate is
    stored with that refitted model."""

    def __init__(self, races: ResultedRaces, early: Sequence[str], late: Sequence[str]) -> None:
        self._races = races
        self._early = list(early)
        self._late = list(late)
        self._models: dict[str, LogitModel] = {}

    def propose(self, champion: Prompt, rng: random.Random) -> Proposal:
        hyper = _hyperparameters(champion.parameters)
        scaled = hyper.c * math.exp(rng.uniform(-1.5, 1.5))
        flip = rng.random() < 0.25
        moved = replace(
            hyper,
            c=round(min(max(scaled, 1e-4), 1e4), 6),
            target=next(t for t in TARGETS if t != hyper.target) if flip else hyper.target,
        )

        async def ready(_: Mapping[str, Picks]) -> Candidate:
            model = await self._model(moved)
            cards = self._races.cards
            training = {
                "fitFrom": cards[self._early[0]].race_date.isoformat(),
                "fitTo": cards[self._early[-1]].race_date.isoformat(),
                "fitRaces": len(self._early),
                "validationRaces": len(self._late),
            }
            validation = await asyncio.to_thread(validation_metrics, model, self._races, self._late)
            parameters = model_parameters(model, moved, training, validation)
            return Candidate(describe(training), parameters)

        return ready

    async def picks(
        self, text: str, parameters: Mapping[str, Any], race_ids: Sequence[str]
    ) -> dict[str, Picks]:
        model = await self._model(_hyperparameters(parameters))
        cards = self._races.cards
        return {
            race_id: learned_answer(model, cards[race_id], "tuning").picks for race_id in race_ids
        }

    async def _model(self, hyper: Hyperparameters) -> LogitModel:
        key = json.dumps(hyper.to_json(), sort_keys=True)
        if key not in self._models:
            blocks = date_blocks(self._races, self._early, hyper.folds)
            self._models[key] = await train(self._races, blocks, hyper, _unreported)
        return self._models[key]


def _hyperparameters(parameters: Mapping[str, Any]) -> Hyperparameters:
    return Hyperparameters.from_json(parameters.get("params") or {}, field="promptId")


async def _unreported(fold: int, folds: int) -> None:
    """Folds of a candidate's fit are not steps of the improvement job."""
