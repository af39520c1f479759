"""Inputs of the day's predictions and of the champion prompt."""

from __future__ import annotations

import strawberry

from kra_graphql.collection.params import check_day
from kra_graphql.prediction.day import DayPredictionParams
from kra_graphql.prediction.service import check_threshold
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
