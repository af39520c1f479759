"""The collection job kinds: what a worker runs for each, and the mutation that submits it."""

from __future__ import annotations

from typing import Any

from kra_graphql.access.keys import Scope
from kra_graphql.collection import importer, service
from kra_graphql.collection.backfill import BackfillParams, backfill_races
from kra_graphql.collection.params import CollectParams, EnrichParams, ImportParams, ResultsParams
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.registry import JobDefinition, JobMutation
from kra_graphql.jobs.states import JobKind
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.runtime import Runtime


async def _collect(
    runtime: Runtime, progress: Progress, params: CollectParams, clients: WorkerClients
) -> JobOutcome:
    return await service.collect_races(runtime, clients.kra, progress, params)


async def _enrich(
    runtime: Runtime, progress: Progress, params: EnrichParams, clients: WorkerClients
) -> JobOutcome:
    return await service.enrich_races(runtime, clients.kra, progress, params)


async def _results(
    runtime: Runtime, progress: Progress, params: ResultsParams, clients: WorkerClients
) -> JobOutcome:
    return await service.collect_results(runtime, clients.kra, progress, params)


async def _backfill(
    runtime: Runtime, progress: Progress, params: BackfillParams, clients: WorkerClients
) -> JobOutcome:
    return await backfill_races(runtime, clients.kra, progress, params)


async def _import(
    runtime: Runtime, progress: Progress, params: ImportParams, clients: WorkerClients
) -> JobOutcome:
    return await importer.import_files(runtime, progress, params.paths)


JOBS: tuple[JobDefinition[Any], ...] = (
    JobDefinition(
        JobKind.COLLECTION, CollectParams, _collect, JobMutation("collectRaces", Scope.COLLECT)
    ),
    JobDefinition(
        JobKind.ENRICHMENT, EnrichParams, _enrich, JobMutation("enrichRaces", Scope.COLLECT)
    ),
    JobDefinition(
        JobKind.RESULTS, ResultsParams, _results, JobMutation("collectResults", Scope.COLLECT)
    ),
    JobDefinition(
        JobKind.BACKFILL, BackfillParams, _backfill, JobMutation("backfillRaces", Scope.COLLECT)
    ),
    # The files are the importing process's own: `kra-graphql import-json` runs it there.
    JobDefinition(JobKind.IMPORT, ImportParams, _import),
)
