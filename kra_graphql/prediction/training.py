"""Training a LEARNED model as a job: fit on the earlier races of a range, validate on the
later tail, store the model as a new prompt version.

Races are split by date: no race on or after the first validation date is fitted (see
`fitting` for the learner and its calibration).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError

from kra_graphql.errors import BadUserInput
from kra_graphql.prediction.dataset import resulted_races
from kra_graphql.prediction.fitting import (
    Hyperparameters,
    date_blocks,
    describe,
    model_parameters,
    train,
    validation_metrics,
)
from kra_graphql.prediction.models import PredictorKind, Prompt
from kra_graphql.prediction.prompts import check_name, versions_of
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.races.dates import parse_date_range, parse_race_date
from kra_graphql.runtime import Runtime

DEFAULT_NAME = "learned-logit"
MIN_FIT_RACES = 20
MIN_VALIDATION_RACES = 5
VERSION_ATTEMPTS = 5


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
    check_name(name, field=f"{prefix}.name")
    if params is not None and not isinstance(params, Mapping):
        raise BadUserInput("an object", field=f"{prefix}.params")
    return TrainParams(
        date_from=start,
        date_to=end,
        seed=seed,
        params=Hyperparameters.from_json(params or {}, field=f"{prefix}.params"),
        name=name,
    )


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
        siblings = await versions_of(runtime, name)
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
