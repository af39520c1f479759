"""Fitting a LEARNED model: the learner, its hyperparameters, and calibrated probabilities.

The learner is scikit-learn's L2-regularised logistic regression (the `learn` extra): a
few thousand runners a year is too little for a boosted ranker to beat a linear model
reliably, its coefficients can be read like FORM's weights, and fitting is deterministic,
so the same races always give the same model.

The fitted races are cut into blocks of whole days; each block is scored by a model
fitted on the others, and on those out-of-sample scores the softmax temperature that
turns scores into calibrated win probabilities is fitted. The final model is fitted on
every block.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from kra_graphql.errors import BadUserInput
from kra_graphql.prediction.dataset import ResultedRaces
from kra_graphql.prediction.learned import (
    LEARNED_FEATURES,
    LogitModel,
    feature_rows,
    learned_answer,
)
from kra_graphql.prediction.metrics import ScoredPrediction, evaluate
from kra_graphql.prediction.probabilities import as_stored

LEARNER = "logistic-regression"
TARGETS = ("win", "top3")
TEMPERATURE_BOUNDS = (0.05, 20.0)


@dataclass(frozen=True, slots=True)
class Hyperparameters:
    c: float = 0.1  # inverse strength of the L2 penalty
    target: str = "win"  # what a runner is fitted to: winning, or finishing in the top 3
    folds: int = 4
    validation_share: float = 0.25

    def to_json(self) -> dict[str, Any]:
        return {
            "C": self.c,
            "target": self.target,
            "folds": self.folds,
            "validationShare": self.validation_share,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, field: str = "input.params") -> Hyperparameters:
        unknown = sorted(set(data) - {"C", "target", "folds", "validationShare"})
        if unknown:
            raise BadUserInput(
                f"unknown parameters {unknown}; known: C, target, folds, validationShare",
                field=field,
            )
        default = cls()
        try:
            made = cls(
                c=float(data.get("C", default.c)),
                target=str(data.get("target", default.target)),
                folds=int(data.get("folds", default.folds)),
                validation_share=float(data.get("validationShare", default.validation_share)),
            )
        except (TypeError, ValueError):
            raise BadUserInput(
                "C and validationShare numbers, folds an integer", field=field
            ) from None
        if not (1e-4 <= made.c <= 1e4 and math.isfinite(made.c)):
            raise BadUserInput("C must be between 0.0001 and 10000", field=field)
        if made.target not in TARGETS:
            raise BadUserInput(f"target must be one of {list(TARGETS)}", field=field)
        if not 2 <= made.folds <= 10:
            raise BadUserInput("folds must be between 2 and 10", field=field)
        if not 0.1 <= made.validation_share <= 0.5:
            raise BadUserInput("validationShare must be between 0.1 and 0.5", field=field)
        return made


def _label(position: int | None, target: str) -> int:
    if position is None:
        return 0
    return int(position == 1) if target == "win" else int(position <= 3)


def fit(races: ResultedRaces, race_ids: Sequence[str], hyper: Hyperparameters) -> LogitModel:
    """A model fitted on these races' runners (temperature 1)."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        raise RuntimeError(
            "training needs scikit-learn: install the learn extra (kra-graphql[learn])"
        ) from None

    rows: list[list[float]] = []
    labels: list[int] = []
    for race_id in race_ids:
        features = feature_rows(races.cards[race_id])
        positions = races.results[race_id].positions
        for gate in sorted(features):
            rows.append(features[gate])
            labels.append(_label(positions.get(gate), hyper.target))
    scaler = StandardScaler().fit(rows)
    learner = LogisticRegression(C=hyper.c, max_iter=5000)
    learner.fit(scaler.transform(rows), labels)
    return LogitModel(
        means=tuple(float(v) for v in scaler.mean_),
        scales=tuple(float(v) for v in scaler.scale_),
        coefficients=tuple(float(v) for v in learner.coef_[0]),
        intercept=float(learner.intercept_[0]),
    )


def _scores_and_winners(
    model: LogitModel, races: ResultedRaces, race_ids: Sequence[str]
) -> list[tuple[list[float], list[int]]]:
    """Per race: every starter's score, and the indexes of its winners."""
    scored = []
    for race_id in race_ids:
        rows = feature_rows(races.cards[race_id])
        gates = sorted(rows)
        positions = races.results[race_id].positions
        winners = [i for i, gate in enumerate(gates) if positions.get(gate) == 1]
        if winners:
            scored.append(([model.score(rows[gate]) for gate in gates], winners))
    return scored


def fit_temperature(scored: Sequence[tuple[list[float], list[int]]]) -> float:
    """The temperature minimising the winners' log-loss over out-of-sample scores."""
    from scipy.optimize import minimize_scalar

    def loss(temperature: float) -> float:
        return -sum(
            _log_sum_exp([scores[i] / temperature for i in winners])
            - _log_sum_exp([score / temperature for score in scores])
            for scores, winners in scored
        )

    if not scored:
        return 1.0
    found = minimize_scalar(loss, bounds=TEMPERATURE_BOUNDS, method="bounded")
    return round(float(found.x), 6)


def _log_sum_exp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def date_blocks(races: ResultedRaces, race_ids: Sequence[str], count: int) -> list[list[str]]:
    """The races cut into at most `count` consecutive blocks of about equal size, never
    splitting a day: each day goes to the block its middle race falls in."""
    days: dict[date, list[str]] = {}
    for race_id in race_ids:
        days.setdefault(races.cards[race_id].race_date, []).append(race_id)
    per_block = len(race_ids) / count
    blocks: dict[int, list[str]] = {}
    seen = 0
    for day_races in days.values():
        middle = seen + len(day_races) / 2
        blocks.setdefault(min(int(middle / per_block), count - 1), []).extend(day_races)
        seen += len(day_races)
    return [blocks[index] for index in sorted(blocks)]


FoldDone = Callable[[int, int], Awaitable[None]]


async def train(
    races: ResultedRaces, blocks: Sequence[Sequence[str]], hyper: Hyperparameters, on_fold: FoldDone
) -> LogitModel:
    """Cross-fitted blocks for the temperature (each block scored by a model fitted on the
    others), then the final fit on every race of every block."""
    if len(blocks) < 2:
        raise BadUserInput(
            "the races to fit are all on one day; at least two days are needed",
            field="input.dateFrom",
        )
    scored: list[tuple[list[float], list[int]]] = []
    for fold, block in enumerate(blocks, start=1):
        others = [race_id for other in blocks if other is not block for race_id in other]
        model = await asyncio.to_thread(fit, races, others, hyper)
        scored.extend(_scores_and_winners(model, races, block))
        await on_fold(fold, len(blocks))
    every = [race_id for block in blocks for race_id in block]
    final = await asyncio.to_thread(fit, races, every, hyper)
    temperature = await asyncio.to_thread(fit_temperature, scored)
    return LogitModel(
        means=final.means,
        scales=final.scales,
        coefficients=final.coefficients,
        intercept=final.intercept,
        temperature=temperature,
    )


def validation_metrics(
    model: LogitModel, races: ResultedRaces, race_ids: Sequence[str]
) -> dict[str, Any]:
    pairs = []
    for race_id in race_ids:
        answer = learned_answer(model, races.cards[race_id], "validation")
        probabilities = as_stored(answer.probabilities)
        scored = ScoredPrediction(answer.picks, answer.confidence, probabilities=probabilities)
        pairs.append((scored, races.results[race_id]))
    overall: dict[str, Any] = evaluate(pairs).overall.as_json()
    return overall


def model_parameters(
    model: LogitModel, hyper: Hyperparameters, training: dict[str, Any], validation: dict[str, Any]
) -> dict[str, Any]:
    """A LEARNED version's parameters: the model, its sha256 and how it was made."""
    return {
        "learner": LEARNER,
        "params": hyper.to_json(),
        "features": list(LEARNED_FEATURES),
        "training": training,
        "validation": validation,
        "model": model.as_json(),
        "sha256": model.sha256,
    }


def describe(training: Mapping[str, Any]) -> str:
    """The version's text: what the model is and what it was fitted on."""
    text = (
        f"Logistic regression over {len(LEARNED_FEATURES)} pre-race features, fitted on "
        f"{training['fitRaces']} races from {training['fitFrom']} to {training['fitTo']}"
    )
    if "validationFrom" in training:
        text += (
            f" and validated on {training['validationRaces']} races from "
            f"{training['validationFrom']} to {training['validationTo']}"
        )
    return text + "."
