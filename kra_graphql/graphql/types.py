"""GraphQL object types: plain objects built from domain rows, scalars without resolvers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from datetime import datetime
from enum import Enum
from typing import Any, Generic, NamedTuple, TypeVar

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from kra_graphql.graphql import ids
from kra_graphql.graphql.context import Context
from kra_graphql.graphql.loaders import Loaders
from kra_graphql.graphql.pagination import Connection, to_connection
from kra_graphql.graphql.projection import entry_reads
from kra_graphql.graphql.rowview import RowView
from kra_graphql.pagination import check_page_size
from kra_graphql.prediction import models as prediction_models
from kra_graphql.prediction.models import PredictorKind
from kra_graphql.prediction.probabilities import from_stored
from kra_graphql.prediction.queries import PredictionQuery, list_predictions
from kra_graphql.races import models
from kra_graphql.races.dates import format_race_date
from kra_graphql.races.people import PersonKind

Info = strawberry.Info[Context, None]
R = TypeVar("R")
T = TypeVar("T")


@strawberry.interface(description="An object with an id unique across all types.")
class Node:
    id: strawberry.ID


@strawberry.enum
class ServiceStatus(Enum):
    UP = "UP"
    DOWN = "DOWN"

    @classmethod
    def of(cls, up: bool) -> ServiceStatus:
        return cls.UP if up else cls.DOWN


@strawberry.type
class Health:
    database: ServiceStatus
    redis: ServiceStatus
    worker: ServiceStatus
    queued_jobs: int | None = strawberry.field(description="Null while the database is down.")
    running_jobs: int | None = strawberry.field(description="Null while the database is down.")
    active_subscriptions: int = strawberry.field(
        description="Live subscriptions on the API process that answered."
    )


CareerSource = models.Horse | models.Jockey | models.Trainer


@strawberry.type(description="Career figures from the KRA detail APIs (null until enriched).")
class Career:
    starts_total: int | None
    wins_total: int | None
    seconds_total: int | None
    thirds_total: int | None
    starts_year: int | None
    wins_year: int | None
    seconds_year: int | None
    thirds_year: int | None
    details_fetched_at: datetime | None

    @strawberry.field(description="Wins per start over the career, 0-1.")
    def win_rate(self) -> float | None:
        if not self.starts_total or self.wins_total is None:
            return None
        return self.wins_total / self.starts_total

    @classmethod
    def of(cls, row: CareerSource) -> Career:
        return cls(**{name: getattr(row, name) for name in models.CAREER_FIELDS})


async def _history(
    info: Info, kind: PersonKind, number: str, first: int, after: str | None
) -> Connection[Entry]:
    page = await info.context.loaders.history[kind].load((number, check_page_size(first), after))
    loaders = info.context.loaders
    return to_connection(page, lambda row: Entry(row, loaders))


@strawberry.type
class Horse(RowView, Node):
    horse_no: str
    name: str
    sex: str | None
    birth_date: str | None = strawberry.field(description="YYYYMMDD.")
    home_meet: int | None
    sire_no: str | None
    sire_name: str | None
    dam_no: str | None
    dam_name: str | None
    rating: int | None
    prize_total: float | None = strawberry.field(description="Career prize money, KRW.")
    row: strawberry.Private[CareerSource]

    @strawberry.field
    def career(self) -> Career:
        return Career.of(self.row)

    @strawberry.field(description="Race history, newest first.")
    async def entries(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[Entry]:
        return await _history(info, "horse", self.horse_no, first, after)

    OWN = frozenset(("id", "birth_date", "prize_total"))

    def __init__(self, row: models.Horse) -> None:
        self.row = row
        self.id = strawberry.ID(ids.horse_id(row.horse_no))
        self.birth_date = format_race_date(row.birth_date) if row.birth_date else None
        self.prize_total = float(row.prize_total) if row.prize_total is not None else None


@strawberry.type
class Jockey(RowView, Node):
    jockey_no: str
    name: str
    affiliation: str | None
    home_meet: int | None
    debut_date: str | None = strawberry.field(description="YYYYMMDD.")
    row: strawberry.Private[CareerSource]

    @strawberry.field
    def career(self) -> Career:
        return Career.of(self.row)

    @strawberry.field(description="Recent rides, newest first.")
    async def entries(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[Entry]:
        return await _history(info, "jockey", self.jockey_no, first, after)

    OWN = frozenset(("id", "debut_date"))

    def __init__(self, row: models.Jockey) -> None:
        self.row = row
        self.id = strawberry.ID(ids.jockey_id(row.jockey_no))
        self.debut_date = format_race_date(row.debut_date) if row.debut_date else None


@strawberry.type
class Trainer(RowView, Node):
    trainer_no: str
    name: str
    affiliation: str | None
    home_meet: int | None
    win_rate_total: float | None = strawberry.field(description="As published, in percent.")
    place_rate_total: float | None = strawberry.field(description="As published, in percent.")
    row: strawberry.Private[CareerSource]

    @strawberry.field
    def career(self) -> Career:
        return Career.of(self.row)

    @strawberry.field(description="Recent runners, newest first.")
    async def entries(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[Entry]:
        return await _history(info, "trainer", self.trainer_no, first, after)

    OWN = frozenset(("id",))

    def __init__(self, row: models.Trainer) -> None:
        self.row = row
        self.id = strawberry.ID(ids.trainer_id(row.trainer_no))


class KnownPeople(NamedTuple):
    """An entry's horse, jockey and trainer, for the kinds the listing resolver loaded."""

    kinds: frozenset[str]
    horse: Horse | None = None
    jockey: Jockey | None = None
    trainer: Trainer | None = None


NOBODY = KnownPeople(frozenset())


class Later(Generic[T]):
    """A value loaded only when awaited. The executor awaits what it finds in a field, so
    a field the query does not ask for costs this small object instead of a load."""

    __slots__ = ("_args", "_load")

    def __init__(self, load: Callable[..., Awaitable[T]], *args: Any) -> None:
        self._load = load
        self._args = args

    def __await__(self) -> Generator[Any, None, T]:
        return self._load(*self._args).__await__()


async def _referenced(loader: DataLoader[str, R | None], key: str) -> R:
    """A row another row refers to: its foreign key makes a miss a sign of corruption."""
    row = await loader.load(key)
    if row is None:
        raise LookupError(f"{key}, referenced by another row, is missing")
    return row


async def _horse_of(loaders: Loaders, horse_no: str) -> Horse:
    return Horse(await _referenced(loaders.horse, horse_no))


async def _jockey_of(loaders: Loaders, jockey_no: str) -> Jockey | None:
    row = await loaders.jockey.load(jockey_no)
    return Jockey(row) if row is not None else None


async def _trainer_of(loaders: Loaders, trainer_no: str) -> Trainer | None:
    row = await loaders.trainer.load(trainer_no)
    return Trainer(row) if row is not None else None


def _person(
    kind: str,
    found: T | None,
    known: KnownPeople,
    key: str | None,
    load: Callable[[Loaders, str], Awaitable[T | None]],
    loaders: Loaders,
) -> T | Later[T | None] | None:
    """An entry's optional person: none, the one already loaded, or a load on demand."""
    if key is None:
        return None
    if kind in known.kinds:
        return found
    return Later(load, loaders, key)


async def race_entries(info: Info, race_id: str, *, placed: bool = False) -> list[Entry]:
    """A race's entries by gate (or the placed ones in finishing order), each with the
    people the query asks for: one query for all races resolved alongside."""
    kinds, needed = entry_reads(info, placed=placed)
    rows = await info.context.loaders.entries_by_race(kinds, needed).load(race_id)
    if placed:
        rows = sorted(
            (row for row in rows if row.entry.finish_position is not None),
            key=lambda row: (row.entry.finish_position, row.entry.gate_number),
        )
    if not kinds:
        return [Entry(row.entry, info.context.loaders) for row in rows]
    # Convert each person once per request (a jockey rides in most races of a day), and
    # apart for each set of columns read: a person read with fewer lacks the others.
    memo = info.context.loaders.converted

    def once(convert: Callable[[Any], T], row: Any, key: str | None) -> T | None:
        if row is None or key is None:
            return None
        found: T | None = memo.get((convert, key, needed))
        if found is None:
            found = memo[(convert, key, needed)] = convert(row)
        return found

    return [
        Entry(
            row.entry,
            info.context.loaders,
            KnownPeople(
                kinds,
                once(Horse, row.horse, row.entry.horse_no),
                once(Jockey, row.jockey, row.entry.jockey_no),
                once(Trainer, row.trainer, row.entry.trainer_no),
            ),
        )
        for row in rows
    ]


@strawberry.type
class Entry(RowView, Node):
    gate_number: int
    horse_name: str = strawberry.field(description="As printed on the race card.")
    age: int | None
    sex: str | None
    carried_weight: float | None
    body_weight: int | None
    body_weight_change: int | None
    rating: int | None
    win_odds: float | None
    place_odds: float | None
    scratched: bool
    finish_position: int | None = strawberry.field(description="Null until the result is known.")
    finish_time: float | None = strawberry.field(description="Seconds; null until the result.")
    margin: str | None
    finish_code: int | None = strawberry.field(
        description="The raw non-finishing code (90 and above) when the runner was not placed."
    )
    race_id: strawberry.Private[str]

    @strawberry.field
    async def race(self, info: Info) -> Race:
        return Race(await _referenced(info.context.loaders.race, self.race_id))

    # Plain values, no resolvers: the person itself when the resolver that listed the
    # entries loaded it (the common case), otherwise a load that runs only if the query
    # asks for the field. A resolver per entry and person would cost more than the rest.
    horse: Horse | Later[Horse] = strawberry.field(graphql_type=Horse)
    jockey: Jockey | Later[Jockey | None] | None = strawberry.field(graphql_type=Jockey | None)
    trainer: Trainer | Later[Trainer | None] | None = strawberry.field(graphql_type=Trainer | None)

    row: strawberry.Private[models.Entry]
    OWN = frozenset(("id", "horse", "jockey", "trainer"))

    def __init__(self, row: models.Entry, loaders: Loaders, known: KnownPeople = NOBODY) -> None:
        self.row = row
        self.id = strawberry.ID(ids.entry_id(row.race_id, row.gate_number))
        self.horse = (
            known.horse if known.horse is not None else Later(_horse_of, loaders, row.horse_no)
        )
        self.jockey = _person("jockey", known.jockey, known, row.jockey_no, _jockey_of, loaders)
        self.trainer = _person(
            "trainer", known.trainer, known, row.trainer_no, _trainer_of, loaders
        )


@strawberry.type
class Race(RowView, Node):
    date: str = strawberry.field(description="Race day, YYYYMMDD (Asia/Seoul).")
    meet: int = strawberry.field(description="1 Seoul, 2 Jeju, 3 Busan-Gyeongnam.")
    race_number: int
    name: str | None
    distance: int | None = strawberry.field(description="Metres.")
    race_class: str | None
    age_condition: str | None
    prize_condition: str | None
    track_condition: str | None
    weather: str | None
    collection_status: str
    enrichment_status: str
    result_status: str
    quality_score: float | None
    quality_warnings: list[str]
    collection_error: str | None = strawberry.field(
        description="Why the race failed to collect (collectionStatus FAILED); null once stored."
    )
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="Runners ordered by gate number.")
    async def entries(self, info: Info) -> list[Entry]:
        return await race_entries(info, str(self.id))

    @strawberry.field(
        description="Placed runners in finishing order (dead heats share a position); "
        "empty until the result is known."
    )
    async def result(self, info: Info) -> list[Entry]:
        return await race_entries(info, str(self.id), placed=True)

    @strawberry.field(
        description="Predictions of this race by predictRace and predictRaces, oldest first."
    )
    async def predictions(self, info: Info) -> list[Prediction]:
        rows = await info.context.loaders.predictions_by_race.load(str(self.id))
        return [Prediction(row) for row in rows]

    row: strawberry.Private[models.Race]
    OWN = frozenset(("date",))

    def __init__(self, row: models.Race) -> None:
        self.row = row
        self.date = format_race_date(row.race_date)


@strawberry.type(description="How far the races of one day at one meet have been collected.")
class CollectionStatus:
    date: str
    meet: int
    total: int = strawberry.field(description="Races known for the day.")
    collected: int
    enriched: int
    resulted: int = strawberry.field(description="Races with a published result (or none).")
    status: str = strawberry.field(
        description="COLLECTING while a collection or results job of the day is queued or "
        "running; else NOT_COLLECTED, FAILED (no race stored, some failed), PARTIAL (some "
        "races failed or were not fetched), COLLECTED, ENRICHED or RESULTED."
    )
    failed_races: list[int] = strawberry.field(
        description="Numbers of the races whose last collection failed; the next collection "
        "of the day fetches them again."
    )


strawberry.enum(PredictorKind)


@strawberry.type(description="A versioned prediction strategy.")
class Prompt(RowView, Node):
    version: str
    name: str
    text: str
    predictor: PredictorKind
    parameters: dict[str, Any] = strawberry.field(graphql_type=JSON)
    created_at: datetime
    parent_id: strawberry.Private[str | None]
    active: bool = strawberry.field(
        description="The version of its strategy that scheduled predictions use."
    )

    @strawberry.field
    async def parent(self, info: Info) -> Prompt | None:
        if self.parent_id is None:
            return None
        row = await info.context.loaders.prompt.load(self.parent_id)
        return Prompt(row) if row else None

    row: strawberry.Private[prediction_models.Prompt]
    OWN = frozenset(("predictor",))

    def __init__(self, row: prediction_models.Prompt) -> None:
        self.row = row
        self.predictor = PredictorKind(row.predictor)


@strawberry.type(description="One starter's probability of winning, as a predictor gave it.")
class RunnerProbability:
    gate: int
    probability: float = strawberry.field(description="0-1; a race's probabilities sum to 1.")


@strawberry.type
class Prediction(RowView, Node):
    predicted: list[int] = strawberry.field(description="Gate numbers, first pick first.")
    confidence: int = strawberry.field(
        description="0-100: the probability that the first pick wins (where the predictor "
        "gives winProbabilities, the first pick's, rounded)."
    )
    win_probabilities: list[RunnerProbability] | None = strawberry.field(
        description="Each starter's probability of winning, by gate, summing to 1 (to six "
        "decimals); null from predictors that state only their confidence (LLM)."
    )
    reasoning: str | None
    deferred: bool = strawberry.field(description="Below the confidence threshold asked for.")
    valid_answer: bool
    used_final_odds: bool
    model_version: str | None
    execution_ms: int | None
    correct_count: int | None = strawberry.field(description="Null until the result is known.")
    created_at: datetime
    race_id: strawberry.Private[str]
    prompt_id: strawberry.Private[str]
    run_id: strawberry.ID | None = strawberry.field(
        description="The predictRaces job whose run this is; null for predictRace and evaluations."
    )

    @strawberry.field
    async def race(self, info: Info) -> Race:
        return Race(await _referenced(info.context.loaders.race, self.race_id))

    @strawberry.field
    async def prompt(self, info: Info) -> Prompt:
        return Prompt(await _referenced(info.context.loaders.prompt, self.prompt_id))

    row: strawberry.Private[prediction_models.Prediction]
    OWN = frozenset(("id", "predicted", "win_probabilities"))

    def __init__(self, row: prediction_models.Prediction) -> None:
        self.row = row
        self.id = strawberry.ID(ids.prediction_id(row.id or 0))
        picks = (row.first_pick, row.second_pick, row.third_pick)
        self.predicted = [pick for pick in picks if pick is not None]
        probabilities = from_stored(row.win_probabilities)
        self.win_probabilities = (
            None
            if probabilities is None
            else [
                RunnerProbability(gate=g, probability=p) for g, p in sorted(probabilities.items())
            ]
        )


@strawberry.type(
    description="One prompt scored over a set of races with known results; docs/metrics.md "
    "defines every figure. Figures added later (successRateAll, coverage, logLoss, ...) are "
    "read from `metrics` and are null on evaluations made before them."
)
class Evaluation(RowView, Node):
    race_count: int = strawberry.field(description="Races scored (with a top 3).")
    excluded_count: int = strawberry.field(description="Races evaluated without a top 3.")
    success_rate: float = strawberry.field(
        description="All three of the actual top 3 picked, over valid, non-deferred "
        "predictions (before docs/metrics.md: over every scored race)."
    )
    average_correct: float = strawberry.field(
        description="Mean picks in the actual top 3, over valid, non-deferred predictions "
        "(before docs/metrics.md: over every scored race)."
    )
    win_hit_rate: float = strawberry.field(
        description="First pick won, over valid, non-deferred predictions."
    )
    used_final_odds: bool
    metrics: dict[str, Any] = strawberry.field(graphql_type=JSON)
    parameters: dict[str, Any] = strawberry.field(graphql_type=JSON)
    created_at: datetime
    prompt_id: strawberry.Private[str]
    job_id: strawberry.Private[str | None]

    @strawberry.field
    async def prompt(self, info: Info) -> Prompt:
        return Prompt(await _referenced(info.context.loaders.prompt, self.prompt_id))

    @strawberry.field(
        description="All three of the top 3 picked, over every scored race (invalid and "
        "deferred predictions are misses)."
    )
    def success_rate_all(self) -> float | None:
        return self._overall("success_rate_all")

    @strawberry.field(description="Mean correct picks over every scored race (0 when invalid).")
    def average_correct_all(self) -> float | None:
        return self._overall("average_correct_all")

    @strawberry.field(description="Share of scored races whose prediction was not deferred.")
    def coverage(self) -> float | None:
        return self._overall("coverage")

    @strawberry.field(
        description='Mean -log p of "first pick wins", p = confidence/100 clipped to '
        "[0.005, 0.995]; null without judged predictions."
    )
    def log_loss(self) -> float | None:
        return self._overall("log_loss")

    @strawberry.field(
        description="Expected calibration error of the same probability, 10 equal-width bins."
    )
    def calibration_error(self) -> float | None:
        return self._overall("calibration_error")

    @strawberry.field(description="Mean NDCG@3 of the picks (relevance 3, 2, 1 for 1st-3rd).")
    def ndcg_at3(self) -> float | None:
        return self._overall("ndcg_at_3")

    @strawberry.field(
        description="Mean -ln P(winner) of each starter's win probability (P summed over a "
        "dead heat for first, floored at 0.005), over judged predictions that give them."
    )
    def field_log_loss(self) -> float | None:
        return self._overall("field_log_loss")

    @strawberry.field(
        description="Mean over races of the sum over starters of (p - won)^2 (a dead heat "
        "for first splits the win), over judged predictions that give probabilities."
    )
    def field_brier(self) -> float | None:
        return self._overall("field_brier")

    @strawberry.field(
        description="Expected calibration error over every starter's (probability, won), "
        "10 equal-width bins."
    )
    def field_calibration_error(self) -> float | None:
        return self._overall("field_calibration_error")

    def _overall(self, key: str) -> float | None:
        value = (self.row.metrics or {}).get("overall", {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    @strawberry.field(description="The predictions it scored, newest first.")
    async def predictions(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[Prediction]:
        size = check_page_size(first)
        query = PredictionQuery(evaluation_id=self.row.id)
        page = await info.context.read(
            lambda session: list_predictions(session, query, first=size, after=after)
        )
        return to_connection(page, Prediction)

    row: strawberry.Private[prediction_models.Evaluation]
    OWN = frozenset(("id",))

    def __init__(self, row: prediction_models.Evaluation) -> None:
        self.row = row
        self.id = strawberry.ID(ids.evaluation_id(row.id or 0))
