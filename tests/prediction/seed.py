"""Hand-shaped races for prediction tests, written on unused far-future days."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from kra_graphql.races.models import Entry, Horse, Jockey, Race, ResultStatus, Trainer, race_id
from tests.factories import Seeded

_numbers = itertools.count(1)


@dataclass
class People:
    horses: list[str]
    jockeys: list[str]
    trainers: list[str]


async def add_people(
    session: AsyncSession, seeded: Seeded, *, horses: int, jockeys: int, trainers: int
) -> People:
    people = People([], [], [])
    for _ in range(horses):
        suffix = f"{next(_numbers):06d}"
        horse = Horse(horse_no=f"PH{suffix}", name=f"말{suffix}")
        session.add(horse)
        seeded.horses.append(horse)
        people.horses.append(horse.horse_no)
    for _ in range(jockeys):
        suffix = f"{next(_numbers):06d}"
        jockey = Jockey(jockey_no=f"PJ{suffix}", name=f"기수{suffix}")
        session.add(jockey)
        seeded.jockeys.append(jockey)
        people.jockeys.append(jockey.jockey_no)
    for _ in range(trainers):
        suffix = f"{next(_numbers):06d}"
        trainer = Trainer(trainer_no=f"PT{suffix}", name=f"조교사{suffix}")
        session.add(trainer)
        seeded.trainers.append(trainer)
        people.trainers.append(trainer.trainer_no)
    await session.flush()
    return people


@dataclass
class Run:
    gate: int
    horse: str
    jockey: str | None = None
    trainer: str | None = None
    position: int | None = None
    code: int | None = None
    scratched: bool = False
    rating: int | None = None
    carried_weight: float | None = 55.0
    body_weight_change: int | None = None
    win_odds: float | None = None


async def add_race(
    session: AsyncSession,
    seeded: Seeded,
    *,
    day: date,
    runs: list[Run],
    number: int = 1,
    meet: int = 1,
    status: ResultStatus = ResultStatus.RESULTED,
    distance: int = 1200,
) -> Race:
    race = Race(
        id=race_id(meet, day, number),
        race_date=day,
        meet=meet,
        race_number=number,
        name=f"race {number}",
        distance=distance,
        race_class="국6등급",
        track_condition="건조",
        weather="맑음",
        result_status=status,
    )
    session.add(race)
    seeded.races.append(race)
    await session.flush()
    for run in runs:
        session.add(
            Entry(
                race_id=race.id,
                gate_number=run.gate,
                horse_no=run.horse,
                horse_name=f"말 {run.horse}",
                jockey_no=run.jockey,
                trainer_no=run.trainer,
                age=4,
                sex="수",
                horse_class="국6등급",
                carried_weight=run.carried_weight,
                body_weight=480,
                body_weight_change=run.body_weight_change,
                rating=run.rating,
                win_odds=run.win_odds,
                scratched=run.scratched,
                finish_position=run.position,
                finish_code=run.code,
            )
        )
    await session.flush()
    return race
