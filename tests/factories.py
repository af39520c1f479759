"""Rows for tests, on days no real race uses, removed again after the test.

Written through `Runtime.write`, like every writer of race data, so cached API answers
see the change."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import delete
from sqlmodel import col

from kra_graphql.races.models import Entry, Horse, Jockey, Race, Trainer, race_id
from kra_graphql.runtime import Runtime

_days = itertools.count()
_numbers = itertools.count(1)


def unused_day() -> date:
    """A distinct day per call, far from any real race calendar."""
    return date(2090, 1, 1) + timedelta(days=next(_days))


@dataclass
class Seeded:
    races: list[Race] = field(default_factory=list)
    horses: list[Horse] = field(default_factory=list)
    jockeys: list[Jockey] = field(default_factory=list)
    trainers: list[Trainer] = field(default_factory=list)


async def seed_races(
    runtime: Runtime,
    *,
    days: Sequence[date],
    meets: Sequence[int] = (1,),
    races_per_meet: int = 2,
    runners: int = 3,
) -> Seeded:
    seeded = Seeded()
    async with runtime.write() as session:
        for day, meet, number in itertools.product(days, meets, range(1, races_per_meet + 1)):
            race = Race(
                id=race_id(meet, day, number),
                race_date=day,
                meet=meet,
                race_number=number,
                name=f"race {number}",
                distance=1000 + 200 * number,
            )
            session.add(race)
            seeded.races.append(race)
            await session.flush()
            for gate in range(runners, 0, -1):  # inserted in reverse to prove ordering
                suffix = f"{next(_numbers):07d}"
                horse = Horse(horse_no=f"T{suffix}", name=f"말{suffix}")
                jockey = Jockey(jockey_no=f"J{suffix}", name=f"기수{suffix}")
                trainer = Trainer(trainer_no=f"R{suffix}", name=f"조교사{suffix}")
                session.add_all([horse, jockey, trainer])
                await session.flush()
                seeded.horses.append(horse)
                seeded.jockeys.append(jockey)
                seeded.trainers.append(trainer)
                session.add(
                    Entry(
                        race_id=race.id,
                        gate_number=gate,
                        horse_no=horse.horse_no,
                        horse_name=horse.name,
                        jockey_no=jockey.jockey_no,
                        trainer_no=trainer.trainer_no,
                        carried_weight=55.5,
                    )
                )
    return seeded


async def remove(runtime: Runtime, seeded: Seeded) -> None:
    async with runtime.write() as session:
        await session.execute(delete(Race).where(col(Race.id).in_([r.id for r in seeded.races])))
        for model, key, values in (
            (Horse, Horse.horse_no, [h.horse_no for h in seeded.horses]),
            (Jockey, Jockey.jockey_no, [j.jockey_no for j in seeded.jockeys]),
            (Trainer, Trainer.trainer_no, [t.trainer_no for t in seeded.trainers]),
        ):
            await session.execute(delete(model).where(col(key).in_(values)))
