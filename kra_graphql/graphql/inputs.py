"""GraphQL inputs and their translation into domain queries, with typed validation errors."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import strawberry
from strawberry.scalars import JSON

from kra_graphql.collection.params import (
    ENTITY_KINDS,
    MAX_RACE_IDS,
    CollectParams,
    EnrichParams,
    ResultsParams,
    check_day,
    check_race_numbers,
)
from kra_graphql.errors import BadUserInput
from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.queries import JobQuery
from kra_graphql.prediction.improvement import ImproveParams
from kra_graphql.prediction.models import PredictorKind
from kra_graphql.prediction.prompts import NewPrompt
from kra_graphql.prediction.queries import PredictionQuery
from kra_graphql.prediction.service import (
    EvaluationParams,
    check_parallelism,
    check_sample_size,
    check_threshold,
    unique_ids,
)
from kra_graphql.raceday.chain import RaceDayParams
from kra_graphql.races.dates import parse_date_range, parse_race_date
from kra_graphql.races.models import CollectionStatus, EnrichmentStatus, ResultStatus, check_meet
from kra_graphql.races.people import PeopleQuery
from kra_graphql.races.queries import RaceQuery

T = TypeVar("T")


@strawberry.input(description="All given conditions must hold.")
class RaceFilter:
    date: str | None = strawberry.field(default=None, description="One day, YYYYMMDD or ISO.")
    date_from: str | None = strawberry.field(default=None, description="First day, inclusive.")
    date_to: str | None = strawberry.field(default=None, description="Last day, inclusive.")
    meet: int | None = None
    collection_status: str | None = strawberry.field(
        default=None, description="PENDING, COLLECTED or FAILED."
    )
    enrichment_status: str | None = strawberry.field(
        default=None, description="PENDING, ENRICHED, PARTIAL or FAILED."
    )
    result_status: str | None = strawberry.field(
        default=None, description="PENDING, RESULTED, NO_RESULT or FAILED."
    )
    distance_min: int | None = strawberry.field(default=None, description="Metres, inclusive.")
    distance_max: int | None = strawberry.field(default=None, description="Metres, inclusive.")
    race_class: str | None = strawberry.field(
        default=None, description="As published, e.g. 국6등급."
    )

    def to_query(self) -> RaceQuery:
        if self.date is not None and (self.date_from is not None or self.date_to is not None):
            raise BadUserInput("use either date or dateFrom/dateTo", field="filter.date")
        day = parse_race_date(self.date, field="filter.date") if self.date else None
        start, end = parse_date_range(self.date_from, self.date_to, field="filter")
        meet = check_meet(self.meet, field="filter.meet") if self.meet is not None else None
        for status_name, status, allowed in (
            ("collectionStatus", self.collection_status, CollectionStatus),
            ("enrichmentStatus", self.enrichment_status, EnrichmentStatus),
            ("resultStatus", self.result_status, ResultStatus),
        ):
            if status is not None and status not in {member.value for member in allowed}:
                options = ", ".join(member.value for member in allowed)
                raise BadUserInput(f"must be one of {options}", field=f"filter.{status_name}")
        for name, metres in (
            ("distanceMin", self.distance_min),
            ("distanceMax", self.distance_max),
        ):
            if metres is not None and not 0 <= metres <= MAX_DISTANCE:
                raise BadUserInput(f"must be between 0 and {MAX_DISTANCE}", field=f"filter.{name}")
        _bounded_text(self.race_class, field="filter.raceClass")
        return RaceQuery(
            date_from=day or start,
            date_to=day or end,
            meet=meet,
            collection_status=self.collection_status,
            enrichment_status=self.enrichment_status,
            result_status=self.result_status,
            distance_min=self.distance_min,
            distance_max=self.distance_max,
            race_class=self.race_class,
        )


MAX_DISTANCE = 10_000
MAX_TEXT = 100


def _bounded_text(value: str | None, *, field: str) -> str | None:
    if value is not None and len(value) > MAX_TEXT:
        raise BadUserInput(f"at most {MAX_TEXT} characters", field=field)
    return value


@strawberry.input(description="Horses, jockeys or trainers.")
class PeopleFilter:
    name: str | None = strawberry.field(
        default=None, description="Any part of the name, case-insensitive (Hangul works)."
    )
    home_meet: int | None = None

    def to_query(self) -> PeopleQuery:
        name = _bounded_text(self.name, field="filter.name")
        meet = check_meet(self.home_meet, field="filter.homeMeet") if self.home_meet else None
        return PeopleQuery(name=name.strip() if name else None, home_meet=meet)


@strawberry.input
class PredictionFilter:
    race_id: strawberry.ID | None = None
    prompt_id: strawberry.ID | None = None
    run_id: strawberry.ID | None = strawberry.field(
        default=None, description="One run of predictRaces: its job id."
    )

    def to_query(self) -> PredictionQuery:
        return PredictionQuery(
            race_id=_bounded_text(self.race_id, field="filter.raceId"),
            prompt_id=_bounded_text(self.prompt_id, field="filter.promptId"),
            run_id=_bounded_text(self.run_id, field="filter.runId"),
        )


MAX_FILTER_VALUES = 20


def _bounded(values: list[T] | None, *, field: str, limit: int = MAX_FILTER_VALUES) -> list[T]:
    if values is not None and len(values) > limit:
        raise BadUserInput(f"at most {limit} values", field=field)
    return list(values or [])


@strawberry.input(description="All given conditions must hold; lists match any of their values.")
class JobFilter:
    status: list[JobStatus] | None = None
    kind: list[JobKind] | None = None
    date_from: str | None = strawberry.field(default=None, description="Created on or after.")
    date_to: str | None = strawberry.field(default=None, description="Created on or before.")
    requested_by: str | None = None

    def to_query(self, field: str = "filter") -> JobQuery:
        start, end = parse_date_range(self.date_from, self.date_to, field=field)
        return JobQuery(
            statuses=[s.value for s in _bounded(self.status, field=f"{field}.status")],
            kinds=[k.value for k in _bounded(self.kind, field=f"{field}.kind")],
            created_from=start,
            created_to=end,
            requested_by=self.requested_by,
        )


@strawberry.input
class CollectRacesInput:
    date: str = strawberry.field(description="Race day, YYYYMMDD or ISO.")
    meet: int
    race_numbers: list[int] | None = strawberry.field(
        default=None, description="Only these races; all races of the day when omitted."
    )
    enrich: bool = strawberry.field(default=True, description="Fetch horse/jockey/trainer details.")
    with_results: bool = strawberry.field(default=True, description="Store results once out.")

    def to_params(self) -> CollectParams:
        return CollectParams(
            race_date=check_day(self.date, field="input.date"),
            meet=check_meet(self.meet, field="input.meet"),
            race_numbers=check_race_numbers(self.race_numbers, field="input.raceNumbers"),
            enrich=self.enrich,
            with_results=self.with_results,
        )


@strawberry.enum
class EntityKind(Enum):
    HORSE = "HORSE"
    JOCKEY = "JOCKEY"
    TRAINER = "TRAINER"


@strawberry.input
class EnrichRacesInput:
    race_ids: list[strawberry.ID]
    kinds: list[EntityKind] | None = strawberry.field(default=None, description="All when omitted.")

    def to_params(self) -> EnrichParams:
        ids = _bounded(self.race_ids, field="input.raceIds", limit=MAX_RACE_IDS)
        if not ids:
            raise BadUserInput("give at least one race id", field="input.raceIds")
        if len(set(ids)) != len(ids):
            raise BadUserInput("race ids must not repeat", field="input.raceIds")
        kinds = [kind.value for kind in self.kinds] if self.kinds else list(ENTITY_KINDS)
        return EnrichParams(race_ids=[str(i) for i in ids], kinds=sorted(set(kinds)))


@strawberry.input
class CollectResultsInput:
    date: str
    meet: int
    race_number: int | None = strawberry.field(default=None, description="All when omitted.")

    def to_params(self) -> ResultsParams:
        numbers = check_race_numbers(
            None if self.race_number is None else [self.race_number], field="input.raceNumber"
        )
        return ResultsParams(
            race_date=check_day(self.date, field="input.date"),
            meet=check_meet(self.meet, field="input.meet"),
            race_number=numbers[0] if numbers else None,
        )


@strawberry.input
class PredictRaceInput:
    race_id: strawberry.ID
    prompt_id: strawberry.ID
    confidence_threshold: int = strawberry.field(
        default=0, description="Below this confidence (0-100) the prediction is marked deferred."
    )
    use_final_odds: bool = strawberry.field(
        default=False, description="Let the predictor see final odds (recorded on the result)."
    )


@strawberry.input(description="Score a prompt over races with known results.")
class EvaluatePromptInput:
    prompt_id: strawberry.ID
    race_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="These races; or use dateFrom/dateTo."
    )
    date_from: str | None = None
    date_to: str | None = None
    parallelism: int = strawberry.field(default=4, description="Predictions at once, 1-64.")
    use_final_odds: bool = False
    confidence_threshold: int = 0
    run_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Score the predictions these predictRaces runs stored (made with this "
        "prompt) instead of predicting again; not with raceIds or dates.",
    )
    sample_size: int | None = strawberry.field(
        default=None,
        description="Score at most this many of the races (1-5000), a sample drawn with "
        "`seed`: the same seed draws the same races. Not with runIds.",
    )
    seed: int = strawberry.field(default=0, description="Seed of the sample (sampleSize).")

    def to_params(self) -> EvaluationParams:
        race_ids = (
            unique_ids([str(i) for i in self.race_ids], field="input.raceIds", limit=MAX_RACE_IDS)
            if self.race_ids is not None
            else None
        )
        start, end = parse_date_range(self.date_from, self.date_to, field="input")
        run_ids = None
        if self.run_ids is not None:
            run_ids = unique_ids([str(i) for i in self.run_ids], field="input.runIds", limit=20)
            if race_ids is not None or start is not None or end is not None:
                raise BadUserInput(
                    "give runIds alone, without raceIds or dates", field="input.runIds"
                )
            if self.sample_size is not None:
                raise BadUserInput(
                    "a sample is drawn from raceIds or dates, not from runIds",
                    field="input.sampleSize",
                )
        elif race_ids is None and start is None and end is None:
            raise BadUserInput("give raceIds, a date range or runIds", field="input.raceIds")
        return EvaluationParams(
            run_ids=run_ids,
            prompt_id=str(self.prompt_id),
            race_ids=race_ids,
            date_from=start,
            date_to=end,
            parallelism=check_parallelism(self.parallelism, field="input.parallelism"),
            use_final_odds=self.use_final_odds,
            confidence_threshold=check_threshold(
                self.confidence_threshold, field="input.confidenceThreshold"
            ),
            sample_size=check_sample_size(self.sample_size, field="input.sampleSize"),
            seed=self.seed,
        )


@strawberry.input
class CreatePromptInput:
    name: str = strawberry.field(description="Lower-case words joined by dashes.")
    version: str = strawberry.field(description="Like v1.1; the id is name-version.")
    text: str
    predictor: PredictorKind
    parameters: JSON = strawberry.field(default_factory=dict)
    parent_id: strawberry.ID | None = None

    def to_new(self) -> NewPrompt:
        if not isinstance(self.parameters, dict):
            raise BadUserInput("must be an object", field="input.parameters")
        return NewPrompt(
            name=self.name,
            version=self.version,
            text=self.text,
            predictor=self.predictor,
            parameters=dict(self.parameters),
            parent_id=str(self.parent_id) if self.parent_id is not None else None,
        )


@strawberry.input(
    description="Tune a FORM, LLM or LEARNED prompt on earlier races, keep what wins on later ones."
)
class ImprovePromptInput:
    prompt_id: strawberry.ID
    iterations: int = strawberry.field(default=10, description="Candidates to try, 1-100.")
    sample_size: int = strawberry.field(
        default=200, description="Earlier races each candidate is tuned on, 10-5000."
    )
    seed: int = strawberry.field(
        default=0, description="Same seed, same data: same samples (and the same FORM result)."
    )
    train_share: float = strawberry.field(
        default=0.7, description="Share of the races (oldest first) used for tuning."
    )
    date_from: str | None = None
    date_to: str | None = None
    parallelism: int = strawberry.field(
        default=4, description="LLM predictions at once, 1-64 (LLM prompts only)."
    )

    def to_params(self) -> ImproveParams:
        start, end = parse_date_range(self.date_from, self.date_to, field="input")
        if not -(2**31) <= self.seed < 2**31:
            raise BadUserInput("a 32-bit integer", field="input.seed")
        return ImproveParams(
            prompt_id=str(self.prompt_id),
            iterations=self.iterations,
            sample_size=self.sample_size,
            seed=self.seed,
            train_share=self.train_share,
            date_from=start,
            date_to=end,
            parallelism=self.parallelism,
        ).check()


@strawberry.input(description="A race day to run as the scheduled chain runs it.")
class RunRaceDayInput:
    date: str = strawberry.field(description="Race day, YYYYMMDD or ISO.")

    def to_params(self) -> RaceDayParams:
        return RaceDayParams(check_day(self.date, field="input.date"))
