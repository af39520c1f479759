"""Which service runs each job kind, with the clients of this worker process."""

from __future__ import annotations

from typing import Any

from kra_graphql.collection import importer, service
from kra_graphql.collection.params import CollectParams, EnrichParams, ResultsParams
from kra_graphql.jobs.models import JobKind
from kra_graphql.jobs.runner import JobHandler
from kra_graphql.kra.client import KraClient
from kra_graphql.prediction import service as prediction
from kra_graphql.prediction.improvement import ImproveParams, improve_prompt
from kra_graphql.prediction.service import Predictors
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.runtime import Runtime


def build_handlers(kra: KraClient, predictors: Predictors) -> dict[str, JobHandler]:
    async def collect(runtime: Runtime, progress: Progress, params: dict[str, Any]) -> JobOutcome:
        return await service.collect_races(runtime, kra, progress, CollectParams.from_json(params))

    async def enrich(runtime: Runtime, progress: Progress, params: dict[str, Any]) -> JobOutcome:
        return await service.enrich_races(runtime, kra, progress, EnrichParams.from_json(params))

    async def results(runtime: Runtime, progress: Progress, params: dict[str, Any]) -> JobOutcome:
        return await service.collect_results(
            runtime, kra, progress, ResultsParams.from_json(params)
        )

    async def evaluation(
        runtime: Runtime, progress: Progress, params: dict[str, Any]
    ) -> JobOutcome:
        return await prediction.evaluate_prompt(
            runtime, predictors, progress, prediction.EvaluationParams.from_json(params)
        )

    async def improvement(
        runtime: Runtime, progress: Progress, params: dict[str, Any]
    ) -> JobOutcome:
        return await improve_prompt(
            runtime, progress, ImproveParams.from_json(params), predictors=predictors
        )

    return {
        JobKind.EVALUATION: evaluation,
        JobKind.PROMPT_IMPROVEMENT: improvement,
        JobKind.COLLECTION: collect,
        JobKind.ENRICHMENT: enrich,
        JobKind.RESULTS: results,
        JobKind.IMPORT: importer.import_job,
    }
