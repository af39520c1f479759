"""The LEARNED model in memory: its numbers, their checks, and how training cuts races."""

from __future__ import annotations

import dataclasses
import itertools
import math
from datetime import date, timedelta
from typing import Any

import pytest

from kra_graphql.errors import BadUserInput
from kra_graphql.prediction.dataset import ResultedRaces
from kra_graphql.prediction.features import FormFeatures, Record, is_wet
from kra_graphql.prediction.fitting import (
    Hyperparameters,
    date_blocks,
    fit_temperature,
    model_parameters,
    train,
)
from kra_graphql.prediction.learned import (
    LEARNED_FEATURES,
    LearnedPredictor,
    LogitModel,
    feature_rows,
)
from kra_graphql.prediction.metrics import RaceResult
from kra_graphql.prediction.predictors import InvalidParameters
from tests.prediction.cards import card, prompt, runner

WIDTH = len(LEARNED_FEATURES)


def model(**changes: object) -> LogitModel:
    made = LogitModel(
        means=(0.0,) * WIDTH,
        scales=(1.0,) * WIDTH,
        coefficients=tuple(0.1 * (i % 3) for i in range(WIDTH)),
        intercept=-2.0,
        temperature=0.8,
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def parameters(made: LogitModel) -> dict[str, Any]:
    return model_parameters(made, Hyperparameters(), {}, {})


def test_features_are_centred_on_the_race() -> None:
    race = card(
        [
            runner(1, rating=80, form=FormFeatures(horse=Record(4, 2, 3))),
            runner(2, rating=60),
            runner(3, form=FormFeatures(recent_finishes=(2,), days_since_last_run=30)),
        ]
    )
    rows = feature_rows(race)
    assert sorted(rows) == [1, 2, 3]
    for index in range(WIDTH):
        assert sum(row[index] for row in rows.values()) == pytest.approx(0, abs=1e-9)
    debut = LEARNED_FEATURES.index("debut")
    assert rows[1][debut] < rows[2][debut]  # gate 1 has started before, gate 2 has not


async def test_probabilities_sum_to_one_and_confidence_is_the_first_picks() -> None:
    race = card([runner(gate, rating=50 + 5 * gate) for gate in range(1, 8)])
    version = prompt("LEARNED")
    version.parameters = parameters(model())
    answer = await LearnedPredictor().predict(race, version)
    assert answer.probabilities is not None
    assert sum(answer.probabilities.values()) == pytest.approx(1)
    first = answer.picks[0]
    assert answer.probabilities[first] == max(answer.probabilities.values())
    assert answer.confidence == round(100 * answer.probabilities[first])


def test_a_model_must_match_its_sha256_and_this_servers_features() -> None:
    good = parameters(model())
    assert LogitModel.from_parameters(good) == model()
    tampered = {**good, "model": {**good["model"], "intercept": 1.0}}
    other_features = {
        **good,
        "model": {**good["model"], "features": list(LEARNED_FEATURES[:-1])},
    }
    for bad in (tampered, other_features, {**good, "model": None}):
        with pytest.raises(InvalidParameters) as raised:
            LogitModel.from_parameters(bad)
        assert raised.value.field == "parameters"
    with pytest.raises(InvalidParameters):
        LogitModel.from_parameters(parameters(model(temperature=0.0)))


async def test_the_predictor_checks_the_sha256_of_a_model_it_has_read_before() -> None:
    predictor = LearnedPredictor()
    good = parameters(model())
    assert predictor.model(good) == model()
    with pytest.raises(InvalidParameters):
        predictor.model({**good, "sha256": "0" * 64})


def test_the_temperature_that_fits_sharp_favourites_is_low() -> None:
    # The higher score always wins: the sharper the softmax, the better.
    sure = [([3.0, 0.0, 0.0], [0])] * 20
    # The higher score wins a third of the time: as good as a coin with three sides.
    vague = [([3.0, 0.0, 0.0], [i % 3]) for i in range(30)]
    assert fit_temperature(sure) < 0.2
    assert fit_temperature(vague) > 10
    assert fit_temperature([]) == 1.0


def resulted(days: list[int]) -> ResultedRaces:
    """Races on these days after 2090-01-01, one per entry of `days`; no runners needed."""
    cards = {}
    for index, offset in enumerate(days):
        race_id = f"race_1_x_{index}"
        race_date = date(2090, 1, 1) + timedelta(days=offset)
        cards[race_id] = dataclasses.replace(
            card([runner(1)]), race_id=race_id, race_date=race_date
        )
    results = {race_id: RaceResult(race_id, 1, 1200, 1, {}) for race_id in cards}
    return ResultedRaces(list(cards), cards, results)


def test_blocks_never_split_a_day() -> None:
    races = resulted([0] * 5 + [1] * 2 + [2] * 6 + [3] * 1 + [4] * 4 + [5] * 3)
    blocks = date_blocks(races, races.race_ids, 4)
    assert 2 <= len(blocks) <= 4
    assert [race for block in blocks for race in block] == races.race_ids
    days = [{races.cards[race].race_date for race in block} for block in blocks]
    for earlier, later in itertools.pairwise(days):
        assert max(earlier) < min(later)


def test_the_split_by_date_keeps_a_day_on_one_side() -> None:
    races = resulted([0, 0, 1, 1, 1, 2, 2, 3])
    earlier, later = races.split_by_date(0.5)  # the 5th race is on day 1
    assert [races.cards[r].race_date.day for r in earlier] == [1, 1]
    assert [races.cards[r].race_date.day for r in later] == [2, 2, 2, 3, 3, 4]


async def test_training_needs_two_days_to_fit() -> None:
    races = resulted([0] * 25)

    async def unreported(fold: int, folds: int) -> None:
        raise AssertionError("no fold runs")

    with pytest.raises(BadUserInput) as raised:
        await train(races, date_blocks(races, races.race_ids, 4), Hyperparameters(), unreported)
    assert raised.value.field == "input.dateFrom"


@pytest.mark.parametrize(
    "given",
    [{"C": 0}, {"C": math.inf}, {"folds": 11}, {"target": "place"}, {"validationShare": 0.9},
     {"depth": 3}, {"C": "strong"}],
)  # fmt: skip
def test_out_of_range_hyperparameters_are_refused(given: dict[str, object]) -> None:
    with pytest.raises(BadUserInput) as raised:
        Hyperparameters.from_json(given)
    assert raised.value.field == "input.params"


@pytest.mark.parametrize(
    ("stated", "wet"),
    [("건조 (2%)", False), ("양호 (9%)", False), ("다습 (10%)", True), ("불량 (20%)", True),
     (" (0%)", None), ("", None), (None, None)],
)  # fmt: skip
def test_the_going_is_wet_from_ten_percent_moisture(stated: str | None, wet: bool | None) -> None:
    assert is_wet(stated) is wet
