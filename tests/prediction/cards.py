"""Race cards built in memory, for predictor tests that need no database."""

from __future__ import annotations

from datetime import date

from kra_graphql.prediction.card import RaceCard, Runner
from kra_graphql.prediction.features import FormFeatures
from kra_graphql.prediction.models import Prompt


def runner(
    gate: int,
    *,
    form: FormFeatures | None = None,
    rating: int | None = None,
    scratched: bool = False,
    win_odds: float | None = None,
) -> Runner:
    return Runner(
        gate_number=gate,
        horse_no=f"H{gate:03d}",
        horse_name=f"말{gate}",
        jockey_no=None,
        jockey_name=None,
        trainer_no=None,
        trainer_name=None,
        age=4,
        sex="수",
        horse_class=None,
        carried_weight=55.0,
        body_weight=None,
        body_weight_change=None,
        rating=rating,
        scratched=scratched,
        form=form or FormFeatures(),
        win_odds=win_odds,
    )


def card(runners: list[Runner], *, use_final_odds: bool = False) -> RaceCard:
    return RaceCard(
        race_id="race_1_20900101_1",
        race_date=date(2090, 1, 1),
        meet=1,
        race_number=1,
        name="test",
        distance=1200,
        race_class=None,
        age_condition=None,
        prize_condition=None,
        track_condition=None,
        weather=None,
        use_final_odds=use_final_odds,
        runners=tuple(runners),
    )


def prompt(predictor: str, text: str = "", **parameters: object) -> Prompt:
    return Prompt(
        id=f"test-{predictor.lower()}-v1",
        name=f"test-{predictor.lower()}",
        version="v1",
        text=text,
        predictor=predictor,
        parameters=dict(parameters),
    )
