"""Races with known results and their pre-race cards, read once for tuning or training."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from kra_graphql.prediction.card import RaceCard, build_card
from kra_graphql.prediction.metrics import RaceResult
from kra_graphql.prediction.results import load_results
from kra_graphql.prediction.service import resulted_race_ids
from kra_graphql.progress import Progress
from kra_graphql.runtime import Runtime


@dataclass(frozen=True, slots=True)
class ResultedRaces:
    # Races with a top three and at least three starters, by date, meet and number.
    race_ids: list[str]
    cards: dict[str, RaceCard]
    results: dict[str, RaceResult]

    def split_at(self, share: float) -> tuple[list[str], list[str]]:
        """The first `share` of the races in race order, and the rest: a day may be on
        both sides, its earlier races before its later ones."""
        cut = int(len(self.race_ids) * share)
        return self.race_ids[:cut], self.race_ids[cut:]

    def split_by_date(self, share: float) -> tuple[list[str], list[str]]:
        """About the first `share` of the races, and the rest from the first day of the
        rest on: a day is never on both sides."""
        cut = int(len(self.race_ids) * share)
        if cut >= len(self.race_ids):
            return self.race_ids, []
        first_later = self.cards[self.race_ids[cut]].race_date
        return self.before(first_later), [
            race_id for race_id in self.race_ids if self.cards[race_id].race_date >= first_later
        ]

    def before(self, day: date) -> list[str]:
        return [race_id for race_id in self.race_ids if self.cards[race_id].race_date < day]


async def resulted_races(
    runtime: Runtime, progress: Progress, date_from: date | None, date_to: date | None
) -> ResultedRaces:
    race_ids = await resulted_race_ids(runtime, date_from=date_from, date_to=date_to)
    async with runtime.sessions() as session:
        results = await load_results(session, race_ids)
        cards: dict[str, RaceCard] = {}
        for race_id in race_ids:
            if results[race_id].top3 is None:
                continue
            await progress.check_cancelled()
            cards[race_id] = await build_card(session, race_id, use_final_odds=False)
    scorable = [race_id for race_id, card in cards.items() if len(card.starters) >= 3]
    return ResultedRaces(scorable, cards, results)
