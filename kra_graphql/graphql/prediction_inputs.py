"""Inputs of the day's predictions and of the champion prompt."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from kra_graphql.collection.params import check_day
from kra_graphql.prediction.day import DayPredictionParams
from kra_graphql.prediction.service import check_threshold
from kra_graphql.prediction.training import DEFAULT_NAME, TrainParams, check_training
from kra_graphql.races.models import check_meet


@strawberry.input(description="Predict every race of one day at one meet, as one run.")
class PredictRacesInput:
    date: str = strawberry.field(description="Race day, YYYYMMDD or ISO.")
    meet: int
    prompt_id: strawberry.ID
    confidence_threshold: int = strawberry.field(
        default=0, description="Below this confidence (0-100) a prediction is marked deferred."
    )
    use_final_odds: bool = strawberry.field(
        default=False, description="Let the predictor see final odds (recorded on each one)."
    )

    def to_params(self) -> DayPredictionParams:
        return DayPredictionParams(
            race_date=check_day(self.date, field="input.date"),
            meet=check_meet(self.meet, field="input.meet"),
            prompt_id=str(self.prompt_id),
            confidence_threshold=check_threshold(
                self.confidence_threshold, field="input.confidenceThreshold"
            ),
            use_final_odds=self.use_final_odds,
        )


@strawberry.input(
    description="Train a LEARNED model on the races of a range with results: the earlier "
    "ones are fitted, the later tail validates; the model is stored as a new version."
)
class TrainModelInput:
    date_from: str = strawberry.field(description="First race day, YYYYMMDD or ISO.")
    date_to: str = strawberry.field(description="Last race day, YYYYMMDD or ISO.")
    seed: int = strawberry.field(
        default=0,
        description="Recorded with the model; the logistic regression draws nothing at "
        "random, so the same races and params give the same model whatever the seed.",
    )
    params: JSON | None = strawberry.field(
        default=None,
        description='Hyperparameters, e.g. {"C": 0.1, "target": "win", "folds": 4, '
        '"validationShare": 0.25}; missing ones take these defaults.',
    )
    name: str = strawberry.field(
        default=DEFAULT_NAME, description="Name of the prompt versions it stores."
    )

    def to_params(self) -> TrainParams:
        params: Any = self.params
        return check_training(
            self.date_from, self.date_to, seed=self.seed, params=params, name=self.name
        )
