"""The race card on real PostgreSQL: the leakage guard and the as-of-date form features."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update
from sqlmodel import col

from kra_graphql.errors import NotFound
from kra_graphql.prediction.card import RaceCard, Runner, build_card
from kra_graphql.prediction.features import FormFeatures, Record
from kra_graphql.prediction.metrics import RaceResult, ScoredPrediction, evaluate
from kra_graphql.prediction.models import Prompt
from kra_graphql.prediction.predictors import FormPredictor
from kra_graphql.prediction.results import load_results
from kra_graphql.races.models import Entry, Horse, Jockey, Race, ResultStatus, Trainer
from kra_graphql.runtime import Runtime
from tests.factories import Seeded, remove, unused_day
from tests.prediction.seed import Run, add_people, add_race

FORM_PROMPT = Prompt(
    id="test-form-v1", name="test-form", version="v1", text="", predictor="FORM", parameters={}
)


@pytest.fixture
async def seeded(runtime: Runtime) -> AsyncIterator[Seeded]:
    seeded = Seeded()
    yield seeded
    await remove(runtime, seeded)


async def test_features_count_only_earlier_races(runtime: Runtime, seeded: Seeded) -> None:
    fog_day, day1, day2, day3 = (unused_day() for _ in range(4))
    async with runtime.write() as session:
        p = await add_people(session, seeded, horses=6, jockeys=4, trainers=2)
        h1, h2, h3, h4, h5, h6 = p.horses
        j1, j2, j3, j4 = p.jockeys
        t1, t2 = p.trainers
        # Fog: every runner 99, no result; counts for nobody.
        await add_race(
            session,
            seeded,
            day=fog_day,
            status=ResultStatus.NO_RESULT,
            runs=[
                Run(1, h1, j1, t1, code=99),
                Run(2, h2, j2, t1, code=99),
                Run(3, h3, j3, t2, code=99),
            ],
        )
        # The one earlier race that counts.
        await add_race(
            session,
            seeded,
            day=day1,
            runs=[
                Run(1, h1, j1, t1, position=1),
                Run(2, h2, j2, t1, position=3),
                Run(3, h3, j3, t2, position=5),
                Run(4, h5, j4, t2, code=92),  # started, did not finish: a start, no place
                Run(5, h4, j1, t2, code=94, scratched=True),  # did not start: not a start
            ],
        )
        # Same day as the target, earlier race number: not strictly earlier, not counted.
        await add_race(session, seeded, day=day2, number=1, runs=[Run(1, h6, j1, t1, position=1)])
        # The target, whose own result must not count either.
        target = await add_race(
            session,
            seeded,
            day=day2,
            number=2,
            runs=[
                Run(1, h1, j2, t1, position=3),
                Run(2, h2, j1, t2, position=2),
                Run(3, h3, j3, t2, position=1),
            ],
        )
        # A later race: not counted.
        await add_race(
            session,
            seeded,
            day=day3,
            runs=[Run(1, h1, j1, t1, position=1), Run(2, h2, j2, t2, position=1)],
        )

    async with runtime.sessions() as session:
        card = await build_card(session, target.id, use_final_odds=False)

    form = {runner.gate_number: runner.form for runner in card.runners}
    gap = (day2 - day1).days
    assert form[1] == FormFeatures(
        horse=Record(starts=1, wins=1, top3=1),
        jockey=Record(starts=1, wins=0, top3=1),  # j2: day1 3rd
        trainer=Record(starts=2, wins=1, top3=2),  # t1: day1 1st and 3rd
        at_distance=Record(starts=1, wins=1, top3=1),  # the same distance
        recent_finishes=(1,),
        days_since_last_run=gap,
        last_carried_weight=55.0,
    )
    assert form[2] == FormFeatures(
        horse=Record(starts=1, wins=0, top3=1),
        jockey=Record(starts=1, wins=1, top3=1),  # j1: day1 1st; scratched ride ignored
        trainer=Record(starts=2, wins=0, top3=0),  # t2: day1 5th and code 92
        at_distance=Record(starts=1, wins=0, top3=1),  # the same distance
        recent_finishes=(3,),
        days_since_last_run=gap,
        last_carried_weight=55.0,
    )
    assert form[3] == FormFeatures(
        horse=Record(starts=1, wins=0, top3=0),
        jockey=Record(starts=1, wins=0, top3=0),
        trainer=Record(starts=2, wins=0, top3=0),
        at_distance=Record(starts=1, wins=0, top3=0),  # the same distance
        recent_finishes=(5,),
        days_since_last_run=gap,
        last_carried_weight=55.0,
    )
    assert form[1].horse.win_rate == 1.0
    assert form[2].trainer.top3_rate == 0.0
    assert form[2].recent_form == pytest.approx(1 / 3)


async def test_card_has_pre_race_fields_only() -> None:
    forbidden = {"finish_position", "finish_code", "finish_time", "margin", "raw", "result_status"}
    career = {"starts_total", "wins_total", "seconds_total", "thirds_total", "starts_year"}
    for model in (RaceCard, Runner, FormFeatures, Record):
        names = {f.name for f in dataclasses.fields(model)}
        assert not names & (forbidden | career), model


async def test_unknown_race_is_not_found(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        with pytest.raises(NotFound):
            await build_card(session, "race_1_20991231_99", use_final_odds=False)


async def test_poisoned_post_race_fields_change_nothing(runtime: Runtime, seeded: Seeded) -> None:
    day1, day2 = unused_day(), unused_day()
    async with runtime.write() as session:
        p = await add_people(session, seeded, horses=5, jockeys=5, trainers=2)
        js, ts = p.jockeys, p.trainers
        await add_race(
            session,
            seeded,
            day=day1,
            runs=[
                Run(i + 1, horse, js[i], ts[i % 2], position=position)
                for i, (horse, position) in enumerate(zip(p.horses, (4, 1, 5, 2, 3), strict=True))
            ],
        )
        target = await add_race(
            session,
            seeded,
            day=day2,
            runs=[
                Run(
                    i + 1,
                    horse,
                    js[(i + 1) % 5],
                    ts[i % 2],
                    rating=40 + 3 * i,
                    body_weight_change=(-4, 0, 7, 2, -1)[i],
                    scratched=i == 4,
                )
                for i, horse in enumerate(p.horses)
            ],
        )

    async def card_and_prediction(use_final_odds: bool) -> tuple[RaceCard, tuple[int, ...]]:
        async with runtime.sessions() as session:
            card = await build_card(session, target.id, use_final_odds=use_final_odds)
        answer = await FormPredictor().predict(card, FORM_PROMPT)
        return card, (*answer.picks, answer.confidence)

    clean_card, clean_prediction = await card_and_prediction(False)
    clean_with_odds, _ = await card_and_prediction(True)
    assert all(r.win_odds is None for r in clean_card.runners)
    assert 5 not in clean_prediction[:3]  # scratched

    # Poison everything known only after the race, and the later career figures.
    async with runtime.write() as session:
        for gate in range(1, 6):
            await session.execute(
                update(Entry)
                .where(col(Entry.race_id) == target.id, col(Entry.gate_number) == gate)
                .values(
                    finish_position=6 - gate,
                    finish_code=99 if gate == 5 else None,
                    finish_time=70.0 + gate,
                    margin=f"{gate}마신",
                    win_odds=1.0 + gate,
                    place_odds=1.0 + gate / 2,
                    raw={"ord": 6 - gate, "rcTime": 70 + gate, "winOdds": 1 + gate},
                )
            )
        await session.execute(
            update(Race)
            .where(col(Race.id) == target.id)
            .values(raw=[{"ord": 1}], result_status=ResultStatus.RESULTED, quality_score=0.1)
        )
        for model, key, numbers in (
            (Horse, Horse.horse_no, p.horses),
            (Jockey, Jockey.jockey_no, p.jockeys),
            (Trainer, Trainer.trainer_no, p.trainers),
        ):
            await session.execute(
                update(model)
                .where(col(key).in_(numbers))
                .values(starts_total=99, wins_total=99, thirds_total=99, raw={"rcCntT": 99})
            )

    poisoned_card, poisoned_prediction = await card_and_prediction(False)
    assert poisoned_card == clean_card
    assert poisoned_prediction == clean_prediction

    # Odds reach the card only when asked for, and nothing else changes with them.
    poisoned_with_odds, _ = await card_and_prediction(True)
    assert [r.win_odds for r in poisoned_with_odds.runners] == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert (
        dataclasses.replace(
            poisoned_with_odds,
            runners=tuple(
                dataclasses.replace(r, win_odds=None, place_odds=None)
                for r in poisoned_with_odds.runners
            ),
        )
        == clean_with_odds
    )


async def test_results_load_dead_heats_codes_and_fog(runtime: Runtime, seeded: Seeded) -> None:
    day = unused_day()
    async with runtime.write() as session:
        p = await add_people(session, seeded, horses=5, jockeys=0, trainers=0)
        h = p.horses
        heat = await add_race(
            session,
            seeded,
            day=day,
            number=1,
            distance=1400,
            runs=[
                Run(1, h[0], position=1, win_odds=3.5),
                Run(2, h[1], position=1, win_odds=2.0),
                Run(3, h[2], position=3, win_odds=9.0),
                Run(4, h[3], code=92, win_odds=20.0),
                Run(5, h[4], code=94, scratched=True),
            ],
        )
        fog = await add_race(
            session,
            seeded,
            day=day,
            number=2,
            meet=2,
            status=ResultStatus.NO_RESULT,
            runs=[Run(g, h[g - 1], code=99, win_odds=4.0) for g in (1, 2, 3)],
        )

    async with runtime.sessions() as session:
        results = await load_results(session, [heat.id, fog.id, "race_1_20991231_99"])

    assert sorted(results) == sorted([heat.id, fog.id])
    assert results[heat.id] == RaceResult(
        race_id=heat.id,
        meet=1,
        distance=1400,
        field_size=4,  # the scratched runner does not count
        positions={1: 1, 2: 1, 3: 3},
        win_odds={1: 3.5, 2: 2.0, 3: 9.0, 4: 20.0},
    )
    assert results[heat.id].top3 == frozenset({1, 2, 3})
    assert results[fog.id].top3 is None
    assert results[fog.id].field_size == 3

    # Picks 2, 4, 1: gate 2 dead-heated first at 2.0 -> profit 1.0; correct {2, 1} = 2.
    report = evaluate(
        [
            (ScoredPrediction(picks=(2, 4, 1), confidence=50), results[heat.id]),
            (ScoredPrediction(picks=(1, 2, 3), confidence=50), results[fog.id]),
        ]
    )
    assert (report.overall.races, report.overall.excluded) == (1, 1)
    assert report.overall.average_correct == 2.0
    assert report.overall.return_per_bet == pytest.approx(1.0)
