"""Ranking prompt versions by their evaluations on one and the same set of races.

An evaluation's race set is fixed when it is done (Evaluation.race_set, the hash of its
sorted race ids); its races are those of the predictions it scored. Figures from
different race sets are not comparable, so only one set is ranked: of the sets whose
races all lie in the filter, the one evaluated by the most prompt versions (then the
larger set, then the most recently evaluated).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from kra_graphql.prediction.models import Evaluation, Prediction
from kra_graphql.races.models import Race


@dataclass(frozen=True, slots=True)
class LeaderboardFilter:
    date_from: date | None = None
    date_to: date | None = None
    meet: int | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int  # 1 for the best; equal figures share a rank
    evaluation: Evaluation


@dataclass(frozen=True, slots=True)
class Leaderboard:
    race_set: str | None
    race_count: int
    standings: list[Standing]


def _inside(where: LeaderboardFilter) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [true()]
    if where.date_from is not None:
        conditions.append(col(Race.race_date) >= where.date_from)
    if where.date_to is not None:
        conditions.append(col(Race.race_date) <= where.date_to)
    if where.meet is not None:
        conditions.append(col(Race.meet) == where.meet)
    return and_(*conditions)


async def prompt_leaderboard(session: AsyncSession, where: LeaderboardFilter) -> Leaderboard:
    outside = func.sum(case((_inside(where), 0), else_=1))
    statement = (
        select(col(Evaluation.id), func.count(func.distinct(col(Prediction.race_id))))
        .join(Prediction, col(Prediction.evaluation_id) == col(Evaluation.id))
        .join(Race, col(Race.id) == col(Prediction.race_id))
        .where(col(Evaluation.race_set).is_not(None))
        .group_by(col(Evaluation.id))
        .having(outside == 0)
    )
    counted = {int(key or 0): int(races) for key, races in await session.execute(statement)}
    if not counted:
        return Leaderboard(race_set=None, race_count=0, standings=[])
    rows = (
        await session.scalars(select(Evaluation).where(col(Evaluation.id).in_(list(counted))))
    ).all()
    # The newest evaluation of each prompt version on each race set.
    latest: dict[str, dict[str, Evaluation]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: r.id or 0):
        assert row.race_set is not None
        latest[row.race_set][row.prompt_id] = row

    def preference(race_set: str) -> tuple[int, int, int]:
        by_prompt = latest[race_set]
        newest = max(row.id or 0 for row in by_prompt.values())
        return (len(by_prompt), counted[newest], newest)

    chosen = max(latest, key=preference)
    ranked = sorted(
        latest[chosen].values(), key=lambda r: (-r.average_correct, -r.success_rate, r.prompt_id)
    )
    standings: list[Standing] = []
    for index, row in enumerate(ranked):
        previous = standings[-1] if standings else None
        same = previous is not None and (
            previous.evaluation.average_correct,
            previous.evaluation.success_rate,
        ) == (row.average_correct, row.success_rate)
        rank = previous.rank if same and previous is not None else index + 1
        standings.append(Standing(rank=rank, evaluation=row))
    race_count = counted[ranked[0].id or 0]
    return Leaderboard(race_set=chosen, race_count=race_count, standings=standings)
