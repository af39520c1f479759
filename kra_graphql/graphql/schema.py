"""The schema root. Resolvers translate arguments and call domain queries, nothing more."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ValidationCache

from kra_graphql.graphql import access_types, leaderboard_types, webhook_types
from kra_graphql.graphql.document import DOCUMENT_CACHE_SIZE, KnownDocument
from kra_graphql.graphql.fastpath import OFF, FastPath
from kra_graphql.graphql.fastpath.executor import executor_class
from kra_graphql.graphql.fastpath.runner import fast_schema_class
from kra_graphql.graphql.inputs import JobFilter, PeopleFilter, PredictionFilter, RaceFilter
from kra_graphql.graphql.job_types import Job, visible_job
from kra_graphql.graphql.mutations import Mutation
from kra_graphql.graphql.node import resolve_node
from kra_graphql.graphql.pagination import Connection, to_connection
from kra_graphql.graphql.pipeline import OperationPipeline
from kra_graphql.graphql.subscriptions import Subscription
from kra_graphql.graphql.types import (
    CollectionStatus,
    Entry,
    Evaluation,
    Health,
    Horse,
    Info,
    Jockey,
    Node,
    Prediction,
    Prompt,
    Race,
    ServiceStatus,
    Trainer,
)
from kra_graphql.health import check_health
from kra_graphql.jobs import queries as job_queries
from kra_graphql.jobs.queries import JobQuery
from kra_graphql.pagination import Page, check_page_size
from kra_graphql.prediction import queries as prediction_queries
from kra_graphql.prediction.queries import PredictionQuery
from kra_graphql.races import people, queries
from kra_graphql.races.dates import format_race_date, parse_race_date
from kra_graphql.races.models import check_meet
from kra_graphql.races.people import PeopleQuery, PersonKind


@strawberry.type
class Query:
    @strawberry.field(description="Reachability of the database, Redis and the workers.")
    async def health(self, info: Info) -> Health:
        report = await check_health(info.context.runtime)
        return Health(
            database=ServiceStatus.of(report.database),
            redis=ServiceStatus.of(report.redis),
            worker=ServiceStatus.of(report.worker),
            queued_jobs=report.queued_jobs,
            running_jobs=report.running_jobs,
            active_subscriptions=info.context.hub.subscriber_count,
        )

    @strawberry.field(description="Races, newest day first, then by meet and race number.")
    async def races(
        self,
        info: Info,
        filter: RaceFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Race]:
        query = filter.to_query() if filter else queries.RaceQuery()
        size = check_page_size(first)
        page = await info.context.read(
            lambda session: queries.list_races(session, query, first=size, after=after)
        )
        return to_connection(page, Race)

    @strawberry.field
    async def race(self, info: Info, id: strawberry.ID) -> Race | None:
        row = await info.context.read(lambda session: queries.get_race(session, str(id)))
        return Race(row) if row else None

    @strawberry.field(description="Any object by its global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, str(id))

    @strawberry.field(description="Horses by name.")
    async def horses(
        self,
        info: Info,
        filter: PeopleFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Horse]:
        page = await _people(info, "horse", filter, first, after)
        return to_connection(page, Horse)

    @strawberry.field
    async def horse(self, info: Info, horse_no: str) -> Horse | None:
        row = await info.context.loaders.horse.load(horse_no)
        return Horse(row) if row else None

    @strawberry.field(description="Jockeys by name.")
    async def jockeys(
        self,
        info: Info,
        filter: PeopleFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Jockey]:
        page = await _people(info, "jockey", filter, first, after)
        return to_connection(page, Jockey)

    @strawberry.field
    async def jockey(self, info: Info, jockey_no: str) -> Jockey | None:
        row = await info.context.loaders.jockey.load(jockey_no)
        return Jockey(row) if row else None

    @strawberry.field(description="Trainers by name.")
    async def trainers(
        self,
        info: Info,
        filter: PeopleFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Trainer]:
        page = await _people(info, "trainer", filter, first, after)
        return to_connection(page, Trainer)

    @strawberry.field
    async def trainer(self, info: Info, trainer_no: str) -> Trainer | None:
        row = await info.context.loaders.trainer.load(trainer_no)
        return Trainer(row) if row else None

    @strawberry.field(description="Predictions, newest first.")
    async def predictions(
        self,
        info: Info,
        filter: PredictionFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Prediction]:
        query = filter.to_query() if filter else PredictionQuery()
        size = check_page_size(first)
        page = await info.context.read(
            lambda session: prediction_queries.list_predictions(
                session, query, first=size, after=after
            )
        )
        return to_connection(page, Prediction)

    @strawberry.field(description="Every prompt version.")
    async def prompts(self, info: Info) -> list[Prompt]:
        rows = await info.context.read(prediction_queries.list_prompts)
        return [Prompt(row) for row in rows]

    @strawberry.field(description="Evaluations, newest first.")
    async def evaluations(
        self,
        info: Info,
        prompt_id: strawberry.ID | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Evaluation]:
        size = check_page_size(first)
        prompt = str(prompt_id) if prompt_id is not None else None
        page = await info.context.read(
            lambda session: prediction_queries.list_evaluations(
                session, prompt, first=size, after=after
            )
        )
        return to_connection(page, Evaluation)

    @strawberry.field(description="Jobs, newest first.")
    async def jobs(
        self,
        info: Info,
        filter: JobFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Job]:
        query = filter.to_query() if filter else JobQuery()
        query = replace(query, visibility=info.context.job_visibility)
        size = check_page_size(first)
        page = await info.context.read(
            lambda session: job_queries.list_jobs(session, query, first=size, after=after)
        )
        return to_connection(page, Job.from_model)

    @strawberry.field(description="A job; null when it does not exist or is another key's.")
    async def job(self, info: Info, id: strawberry.ID) -> Job | None:
        return await visible_job(info, str(id))

    @strawberry.field(description="Collection progress of one race day at one meet.")
    async def collection_status(self, info: Info, date: str, meet: int) -> CollectionStatus:
        day = parse_race_date(date, field="date")
        check_meet(meet, field="meet")
        status = await info.context.read(lambda session: queries.day_status(session, day, meet))
        return CollectionStatus(
            date=format_race_date(day),
            meet=meet,
            total=status.total,
            collected=status.collected,
            enriched=status.enriched,
            resulted=status.resulted,
            status=status.status,
            failed_races=list(status.failed_races),
        )

    api_keys: list[access_types.ApiKey] = strawberry.field(
        resolver=access_types.api_keys, description="Every API key, revoked ones too (admin)."
    )
    webhooks: list[webhook_types.Webhook] = strawberry.field(
        resolver=webhook_types.webhooks, description="Every webhook, oldest first (admin)."
    )
    webhook_deliveries: Connection[webhook_types.WebhookDelivery] = strawberry.field(
        resolver=webhook_types.webhook_deliveries,
        description="A webhook's deliveries with their tries, newest first (admin).",
    )
    prompt_leaderboard: leaderboard_types.PromptLeaderboard = strawberry.field(
        resolver=leaderboard_types.leaderboard,
        description="Prompt versions ranked on the same races (see PromptLeaderboard).",
    )


async def _people(
    info: Info, kind: PersonKind, filter: PeopleFilter | None, first: int, after: str | None
) -> Page[Any]:
    query = filter.to_query() if filter else PeopleQuery()
    size = check_page_size(first)
    return await info.context.read(
        lambda session: people.list_people(session, kind, query, first=size, after=after)
    )


class Schema(strawberry.Schema):
    """The schema with its error handling; `fast_path` says which fast-path pieces run."""

    fast_path: FastPath = OFF

    def process_errors(self, errors: list[GraphQLError], execution_context: object = None) -> None:
        """Logging happens in OperationPipeline, once, with an errorId for unexpected errors."""


@cache
def schema_for(fast_path: FastPath) -> Schema:
    """The schema running these fast-path pieces: one per combination, built on first use."""
    schema_class = Schema
    if fast_path.runner:
        schema_class = fast_schema_class(Schema)
    built = schema_class(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Node, Entry, Horse, Jockey, Trainer],
        execution_context_class=executor_class(fast_path),
        extensions=[
            OperationPipeline,
            KnownDocument,
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
        ],
    )
    built.fast_path = fast_path
    return built


def schema_sdl() -> str:
    """The schema as committed in schema.graphql (the same whichever pieces run)."""
    return schema_for(OFF).as_str() + "\n"
