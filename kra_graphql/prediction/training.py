"""Training a LEARNED model: fit on the earlier races of a range, validate on the later tail.

The learner is scikit-learn's L2-regularised logistic regression (the `learn` extra): a
few thousand runners a year is too little for a boosted ranker to beat a linear model
reliably, its coefficients can be read like FORM's weights, and fitting is deterministic,
so the same races always give the same model.

Races are split by date: no race on or after the first validation date is fitted. The
fitted races are cut into blocks of whole days; each block is scored by a model fitted on
the others, and on those out-of-sample scores the softmax temperature that turns scores
into calibrated win probabilities is fitted. The final model is fitted on every block.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from kra_graphql.errors import BadUserInput
from kra_graphql.prediction.dataset import ResultedRaces, resulted_races
from kra_graphql.prediction.learned import (
    LEARNED_FEATURES,
    LogitModel,
    feature_rows,
    learned_answer,
)
from kra_graphql.prediction.metrics import ScoredPrediction, evaluate
from kra_graphql.prediction.models import PredictorKind, Prompt
from kra_graphql.prediction.probabilities import from_stored, to_stored
from kra_graphql.prediction.prompts import NAME
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.races.dates import parse_date_range, parse_race_date
from kra_graphql.runtime import Runtime

LEARNER = "logistic-regression"
DEFAULT_NAME = "learned-logit"
TARGETS = ("win", "top3")
MIN_FIT_RACES = 20
MIN_VALIDATION_RACES = 5
TEMPERATURE_BOUNDS = (0.05, 20.0)
VERSION_ATTEMPTS = 5


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


@dataclass(frozen=True, slots=True)
class TrainParams:
    date_from: date
    date_to: date
    seed: int = 0
    params: Hyperparameters = field(default_factory=Hyperparameters)
    name: str = DEFAULT_NAME

    def to_json(self) -> dict[str, Any]:
        return {
            "dateFrom": self.date_from.isoformat(),
            "dateTo": self.date_to.isoformat(),
            "seed": self.seed,
            "params": self.params.to_json(),
            "name": self.name,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainParams:
        return cls(
            date_from=parse_race_date(data["dateFrom"], field="dateFrom"),
            date_to=parse_race_date(data["dateTo"], field="dateTo"),
            seed=int(data.get("seed", 0)),
            params=Hyperparameters.from_json(data.get("params") or {}),
            name=str(data.get("name", DEFAULT_NAME)),
        )


def check_training(
    date_from: str,
    date_to: str,
    *,
    seed: int,
    params: Mapping[str, Any] | None,
    name: str,
    prefix: str = "input",
) -> TrainParams:
    start, end = parse_date_range(date_from, date_to, field=prefix)
    if start is None or end is None:
        missing = "dateFrom" if start is None else "dateTo"
        raise BadUserInput("a race date is needed", field=f"{prefix}.{missing}")
    if len(name) > 50 or not NAME.fullmatch(name):
        raise BadUserInput("lower-case letters, digits and dashes", field=f"{prefix}.name")
    if params is not None and not isinstance(params, Mapping):
        raise BadUserInput("an object", field=f"{prefix}.params")
    return TrainParams(
        date_from=start,
        date_to=end,
        seed=seed,
        params=Hyperparameters.from_json(params or {}, field=f"{prefix}.params"),
        name=name,
    )


# --- fitting (CPU only) --------------------------------------------------------------------


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
        probabilities = from_stored(to_stored(answer.probabilities))
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


# --- the job -------------------------------------------------------------------------------


async def train_model(runtime: Runtime, progress: Progress, params: TrainParams) -> JobOutcome:
    hyper = params.params
    await progress.set_total(hyper.folds + 3, step="reading race cards")
    races = await resulted_races(runtime, progress, params.date_from, params.date_to)
    fit_ids, validation_ids = races.split_by_date(1 - hyper.validation_share)
    if len(fit_ids) < MIN_FIT_RACES or len(validation_ids) < MIN_VALIDATION_RACES:
        raise BadUserInput(
            f"{len(fit_ids)} races to fit and {len(validation_ids)} to validate in range; "
            f"at least {MIN_FIT_RACES} and {MIN_VALIDATION_RACES} are needed",
            field="input.dateFrom",
        )
    first_validation = races.cards[validation_ids[0]].race_date
    await progress.log(
        f"fitting {len(fit_ids)} races before {first_validation}, "
        f"validating on {len(validation_ids)} from it"
    )
    blocks = date_blocks(races, fit_ids, hyper.folds)
    # Cards, a step per fold, validation, storing; fewer folds when the range has few days.
    await progress.set_total(len(blocks) + 3)
    await progress.advance()

    async def fold_done(fold: int, folds: int) -> None:
        await progress.step(f"fold {fold} of {folds}")
        await progress.log(f"fold {fold} of {folds} scored by a model fitted on the others")
        await progress.advance()

    model = await train(races, blocks, hyper, fold_done)
    await progress.step("validating")
    validation = validation_metrics(model, races, validation_ids)
    await progress.advance()
    training = {
        "job": progress.job_id,
        "seed": params.seed,
        "dateFrom": params.date_from.isoformat(),
        "dateTo": params.date_to.isoformat(),
        "fitFrom": races.cards[fit_ids[0]].race_date.isoformat(),
        "fitTo": races.cards[fit_ids[-1]].race_date.isoformat(),
        "validationFrom": first_validation.isoformat(),
        "validationTo": races.cards[validation_ids[-1]].race_date.isoformat(),
        "fitRaces": len(fit_ids),
        "validationRaces": len(validation_ids),
    }
    prompt = await store_version(
        runtime,
        params.name,
        progress.job_id,
        describe(training),
        model_parameters(model, hyper, training, validation),
    )
    await progress.log(
        f"{prompt.id}: validation average correct {validation['average_correct']:.3f}, "
        f"field log-loss {validation['field_log_loss']:.3f}, sha256 {model.sha256[:12]}"
    )
    await progress.advance()
    return JobOutcome(
        result={
            "promptId": prompt.id,
            "sha256": model.sha256,
            "fitRaces": len(fit_ids),
            "validationRaces": len(validation_ids),
            "validation": validation,
        }
    )


MAJOR = re.compile(r"v(\d+)(\.\d+)*")


async def store_version(
    runtime: Runtime, name: str, job_id: str, text: str, parameters: dict[str, Any]
) -> Prompt:
    """The next major version of `name`; the one this job stored before, on a re-run."""
    for _ in range(VERSION_ATTEMPTS):
        async with runtime.sessions() as session:
            siblings = (await session.scalars(select(Prompt).where(col(Prompt.name) == name))).all()
        for sibling in siblings:
            if (sibling.parameters.get("training") or {}).get("job") == job_id:
                return sibling
        majors = [int(m.group(1)) for s in siblings if (m := MAJOR.fullmatch(s.version))]
        version = f"v{max(majors, default=0) + 1}.0"
        prompt = Prompt(
            id=f"{name}-{version}",
            name=name,
            version=version,
            text=text,
            predictor=PredictorKind.LEARNED,
            parameters=parameters,
        )
        try:
            async with runtime.write() as session:
                session.add(prompt)
        except IntegrityError:
            continue  # a concurrent training took this version
        return prompt
    raise RuntimeError(f"no free version of {name} after {VERSION_ATTEMPTS} attempts")
