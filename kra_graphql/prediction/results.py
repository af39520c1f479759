"""Known results of races, read for scoring only: never part of a predictor's input."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.prediction.metrics import RaceResult
from kra_graphql.races.models import Entry, Race


async def load_results(session: AsyncSession, race_ids: Sequence[str]) -> dict[str, RaceResult]:
    """Results by race id, in two queries; unknown ids are left out.

    A race whose runners have no positions (not yet run, or fog) comes back with empty
    positions, which the metrics count as excluded.
    """
    if not race_ids:
        return {}
    races = (
        await session.execute(
            select(col(Race.id), col(Race.meet), col(Race.distance)).where(
                col(Race.id).in_(race_ids)
            )
        )
    ).all()
    entries = await session.execute(
        select(
            col(Entry.race_id),
            col(Entry.gate_number),
            col(Entry.scratched),
            col(Entry.finish_position),
            col(Entry.win_odds),
        ).where(col(Entry.race_id).in_(race_ids))
    )
    positions: dict[str, dict[int, int]] = defaultdict(dict)
    odds: dict[str, dict[int, float]] = defaultdict(dict)
    starters: dict[str, int] = defaultdict(int)
    for race_id, gate, scratched, position, win_odds in entries:
        if scratched:
            continue
        starters[race_id] += 1
        if position is not None:
            positions[race_id][gate] = position
        if win_odds is not None:
            odds[race_id][gate] = win_odds
    return {
        race_id: RaceResult(
            race_id=race_id,
            meet=meet,
            distance=distance,
            field_size=starters[race_id],
            positions=dict(positions[race_id]),
            win_odds=dict(odds[race_id]),
        )
        for race_id, meet, distance in races
    }
