"""The race card predictors see: pre-race fields only, read through one explicit allow-list.

`build_card` is the only way predictors get race data. It selects named columns, never
whole rows, so finishing positions, times, margins, finish codes and raw KRA items cannot
reach a predictor. Final odds are selected only when the caller asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.errors import NotFound
from kra_graphql.prediction.features import FormFeatures, Participant, form_features
from kra_graphql.races.models import Entry, Jockey, Race, Trainer

# The allow-lists: nothing else is ever read for a card.
RACE_COLUMNS = (
    col(Race.id),
    col(Race.race_date),
    col(Race.meet),
    col(Race.race_number),
    col(Race.name),
    col(Race.distance),
    col(Race.race_class),
    col(Race.age_condition),
    col(Race.prize_condition),
    col(Race.track_condition),
    col(Race.weather),
)
RUNNER_COLUMNS: tuple[Any, ...] = (
    col(Entry.gate_number),
    col(Entry.horse_no),
    col(Entry.horse_name),
    col(Entry.jockey_no),
    col(Jockey.name).label("jockey_name"),
    col(Entry.trainer_no),
    col(Trainer.name).label("trainer_name"),
    col(Entry.age),
    col(Entry.sex),
    col(Entry.horse_class),
    col(Entry.carried_weight),
    col(Entry.body_weight),
    col(Entry.body_weight_change),
    col(Entry.rating),
    col(Entry.scratched),
)
ODDS_COLUMNS = (col(Entry.win_odds), col(Entry.place_odds))


@dataclass(frozen=True, slots=True)
class Runner:
    gate_number: int
    horse_no: str
    horse_name: str
    jockey_no: str | None
    jockey_name: str | None
    trainer_no: str | None
    trainer_name: str | None
    age: int | None
    sex: str | None
    horse_class: str | None
    carried_weight: float | None
    body_weight: int | None
    body_weight_change: int | None
    rating: int | None
    scratched: bool
    form: FormFeatures
    # Final odds: None unless the card was built with use_final_odds.
    win_odds: float | None = None
    place_odds: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate_number,
            "horse_no": self.horse_no,
            "horse": self.horse_name,
            "jockey_no": self.jockey_no,
            "jockey": self.jockey_name,
            "trainer_no": self.trainer_no,
            "trainer": self.trainer_name,
            "age": self.age,
            "sex": self.sex,
            "class": self.horse_class,
            "carried_weight": self.carried_weight,
            "body_weight": self.body_weight,
            "body_weight_change": self.body_weight_change,
            "rating": self.rating,
            "scratched": self.scratched,
            "form": self.form.as_json(),
            **(
                {"win_odds": self.win_odds, "place_odds": self.place_odds}
                if self.win_odds is not None or self.place_odds is not None
                else {}
            ),
        }


@dataclass(frozen=True, slots=True)
class RaceCard:
    race_id: str
    race_date: date
    meet: int
    race_number: int
    name: str | None
    distance: int | None
    race_class: str | None
    age_condition: str | None
    prize_condition: str | None
    track_condition: str | None
    weather: str | None
    use_final_odds: bool
    runners: tuple[Runner, ...]  # ordered by gate number

    @property
    def starters(self) -> tuple[Runner, ...]:
        return tuple(runner for runner in self.runners if not runner.scratched)

    @property
    def field_size(self) -> int:
        return len(self.starters)

    @property
    def has_odds(self) -> bool:
        return any(runner.win_odds is not None for runner in self.starters)

    def as_json(self) -> dict[str, Any]:
        return {
            "race_id": self.race_id,
            "date": f"{self.race_date:%Y%m%d}",
            "meet": self.meet,
            "race_number": self.race_number,
            "name": self.name,
            "distance": self.distance,
            "class": self.race_class,
            "age_condition": self.age_condition,
            "prize_condition": self.prize_condition,
            "track": self.track_condition,
            "weather": self.weather,
            "field_size": self.field_size,
            "runners": [runner.as_json() for runner in self.runners],
        }


async def build_card(session: AsyncSession, race_id: str, *, use_final_odds: bool) -> RaceCard:
    race = (await session.execute(select(*RACE_COLUMNS).where(col(Race.id) == race_id))).first()
    if race is None:
        raise NotFound(f"race {race_id} not found", field="raceId")
    columns = (*RUNNER_COLUMNS, *ODDS_COLUMNS) if use_final_odds else RUNNER_COLUMNS
    rows = (
        await session.execute(
            select(*columns)
            .outerjoin(Jockey, col(Jockey.jockey_no) == col(Entry.jockey_no))
            .outerjoin(Trainer, col(Trainer.trainer_no) == col(Entry.trainer_no))
            .where(col(Entry.race_id) == race_id)
            .order_by(col(Entry.gate_number))
        )
    ).all()
    entries = [row._asdict() for row in rows]
    features = await form_features(
        session,
        [Participant(e["horse_no"], e["jockey_no"], e["trainer_no"]) for e in entries],
        race.race_date,
        distance=race.distance,
        going=race.track_condition,
    )
    runners = tuple(
        Runner(
            gate_number=e["gate_number"],
            horse_no=e["horse_no"],
            horse_name=e["horse_name"],
            jockey_no=e["jockey_no"],
            jockey_name=e["jockey_name"],
            trainer_no=e["trainer_no"],
            trainer_name=e["trainer_name"],
            age=e["age"],
            sex=e["sex"],
            horse_class=e["horse_class"],
            carried_weight=e["carried_weight"],
            body_weight=e["body_weight"],
            body_weight_change=e["body_weight_change"],
            rating=e["rating"],
            scratched=e["scratched"],
            form=features[e["horse_no"]],
            win_odds=e.get("win_odds"),
            place_odds=e.get("place_odds"),
        )
        for e in entries
    )
    return RaceCard(
        race_id=race.id,
        race_date=race.race_date,
        meet=race.meet,
        race_number=race.race_number,
        name=race.name,
        distance=race.distance,
        race_class=race.race_class,
        age_condition=race.age_condition,
        prize_condition=race.prize_condition,
        track_condition=race.track_condition,
        weather=race.weather,
        use_final_odds=use_final_odds,
        runners=runners,
    )
