"""Mutations: validate the input, hand over to the job layer, return the job at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import strawberry

from kra_graphql.errors import AppError, NotFound
from kra_graphql.graphql import access_types, webhook_types
from kra_graphql.graphql.auth import check_job_owner
from kra_graphql.graphql.backfill_types import BackfillRacesInput
from kra_graphql.graphql.export_types import ExportDatasetInput
from kra_graphql.graphql.inputs import (
    CollectRacesInput,
    CollectResultsInput,
    CreatePromptInput,
    EnrichRacesInput,
    EvaluatePromptInput,
    ImprovePromptInput,
    PredictRaceInput,
    RunRaceDayInput,
)
from kra_graphql.graphql.job_types import Job
from kra_graphql.graphql.prediction_inputs import PredictRacesInput, TrainModelInput
from kra_graphql.graphql.types import Info, Prediction, Prompt
from kra_graphql.jobs import service
from kra_graphql.jobs.models import Job as JobRow
from kra_graphql.jobs.models import JobKind
from kra_graphql.jobs.registry import JobParams
from kra_graphql.prediction import service as prediction_service
from kra_graphql.prediction.improvement import check_improvable
from kra_graphql.prediction.prompts import activate_prompt, create_prompt
from kra_graphql.prediction.queries import existing_run_ids
from kra_graphql.prediction.service import check_threshold
from kra_graphql.races.queries import existing_race_ids


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Collect a race day (cards, details, results) as a job.")
    async def collect_races(self, info: Info, input: CollectRacesInput) -> Job:
        return await _submit(info, JobKind.COLLECTION, input.to_params())

    @strawberry.mutation(description="Fetch horse, jockey and trainer details of these races.")
    async def enrich_races(self, info: Info, input: EnrichRacesInput) -> Job:
        params = input.to_params()
        await _require_races(info, params.race_ids)
        return await _submit(info, JobKind.ENRICHMENT, params)

    @strawberry.mutation(description="Collect the results of a race day (or one race) as a job.")
    async def collect_results(self, info: Info, input: CollectResultsInput) -> Job:
        return await _submit(info, JobKind.RESULTS, input.to_params())

    @strawberry.mutation(description="Queued jobs end at once; running ones at their next step.")
    async def cancel_job(self, info: Info, id: strawberry.ID) -> Job:
        job = await _visible_job(info, str(id))
        check_job_owner(info.context.principal, job.requested_by)
        row = await service.cancel_job(info.context.runtime, info.context.queue, str(id))
        return Job.from_model(row)

    @strawberry.mutation(description="Run a FAILED, PARTIAL or CANCELLED job again.")
    async def retry_job(self, info: Info, id: strawberry.ID) -> Job:
        job = await _visible_job(info, str(id))
        check_job_owner(info.context.principal, job.requested_by)
        row = await service.retry_job(info.context.runtime, info.context.queue, str(id))
        return Job.from_model(row)

    @strawberry.mutation(description="Predict the first three of a race and store it.")
    async def predict_race(self, info: Info, input: PredictRaceInput) -> Prediction:
        threshold = check_threshold(input.confidence_threshold, field="input.confidenceThreshold")
        with input_fields():
            row = await prediction_service.predict_race(
                info.context.runtime,
                info.context.predictors,
                race_id=str(input.race_id),
                prompt_id=str(input.prompt_id),
                confidence_threshold=threshold,
                use_final_odds=input.use_final_odds,
            )
        return Prediction(row)

    @strawberry.mutation(description="Score a prompt over races with known results, as a job.")
    async def evaluate_prompt(self, info: Info, input: EvaluatePromptInput) -> Job:
        params = input.to_params()
        ctx = info.context
        with input_fields():
            await prediction_service.get_prompt(ctx.runtime, params.prompt_id)
        if params.race_ids:
            await _require_races(info, params.race_ids)
        if params.run_ids:
            await _require_runs(info, params.run_ids, params.prompt_id)
        return await _submit(info, JobKind.EVALUATION, params)

    @strawberry.mutation(
        description="Improve a FORM, LLM or LEARNED prompt, as a job; every candidate is kept."
    )
    async def improve_prompt(self, info: Info, input: ImprovePromptInput) -> Job:
        params = input.to_params()
        ctx = info.context
        with input_fields():
            check_improvable(await prediction_service.get_prompt(ctx.runtime, params.prompt_id))
        return await _submit(info, JobKind.PROMPT_IMPROVEMENT, params)

    @strawberry.mutation(description="Add a prompt version.")
    async def create_prompt(self, info: Info, input: CreatePromptInput) -> Prompt:
        row = await create_prompt(info.context.runtime, input.to_new())
        return Prompt(row)

    create_api_key: access_types.CreatedApiKey = strawberry.mutation(
        resolver=access_types.create_api_key,
        description="Create an API key (admin); the answer holds the key, this once.",
    )
    revoke_api_key: access_types.ApiKey = strawberry.mutation(
        resolver=access_types.revoke_api_key,
        description="Revoke an API key (admin); it stops working within seconds.",
    )
    create_webhook: webhook_types.CreatedWebhook = strawberry.mutation(
        resolver=webhook_types.create_webhook,
        description="Have a URL told of job ends (admin); the answer holds its secret, this once.",
    )
    delete_webhook: webhook_types.Webhook = strawberry.mutation(
        resolver=webhook_types.delete_webhook,
        description="Stop telling a webhook (admin); its pending deliveries are dropped.",
    )

    @strawberry.mutation(
        description="Predict every race of a day at one meet, as a job: one run, one step "
        "per race; predicting the day again adds another run."
    )
    async def predict_races(self, info: Info, input: PredictRacesInput) -> Job:
        params = input.to_params()
        with input_fields():
            await prediction_service.get_prompt(info.context.runtime, params.prompt_id)
        return await _submit(info, JobKind.PREDICTION, params)

    @strawberry.mutation(
        description="Train a LEARNED model as a job, one step per fold: fitted on the "
        "earlier races of the range, validated on the later tail, stored as a prompt version."
    )
    async def train_model(self, info: Info, input: TrainModelInput) -> Job:
        return await _submit(info, JobKind.TRAINING, input.to_params())

    @strawberry.mutation(
        description="Run a race day now as the schedule runs it (admin): cards, predictions "
        "with the active prompt, results once out, then their scoring, each a child job."
    )
    async def run_race_day(self, info: Info, input: RunRaceDayInput) -> Job:
        return await _submit(info, JobKind.RACE_DAY, input.to_params())

    @strawberry.mutation(
        description="Make this prompt version the active one of its strategy (predictor); "
        "the one active before is no longer."
    )
    async def activate_prompt(self, info: Info, id: strawberry.ID) -> Prompt:
        row = await activate_prompt(info.context.runtime, str(id))
        return Prompt(row)

    @strawberry.mutation(
        description="Collect every race day of a date range as one job with a child job per "
        "day and meet; days already collected completely are skipped unless forced."
    )
    async def backfill_races(self, info: Info, input: BackfillRacesInput) -> Job:
        return await _submit(info, JobKind.BACKFILL, input.to_params())

    @strawberry.mutation(
        description="Export the races of a range, with their entries, results, predictions "
        "and people, as Parquet or CSV files and a manifest, as a job; `result.files` "
        "lists them, downloaded from /exports/<job id>/<file> with the same key."
    )
    async def export_dataset(self, info: Info, input: ExportDatasetInput) -> Job:
        return await _submit(info, JobKind.EXPORT, input.to_params())


async def _submit(info: Info, kind: JobKind, params: JobParams) -> Job:
    """Queue the job; the scope its mutation needs is in the kind's declaration."""
    ctx = info.context
    row = await ctx.jobs.submit(kind, params.to_json(), requested_by=ctx.submitter)
    return Job.from_model(row)


async def _visible_job(info: Info, job_id: str) -> JobRow:
    """Another key's job is refused as a missing one: its existence is not disclosed."""
    job = await service.get_job(info.context.runtime, job_id)
    if not info.context.job_visibility.sees(job.requested_by):
        raise NotFound(f"no job with id {job_id}", field="id")
    return job


async def _require_races(info: Info, race_ids: list[str]) -> None:
    """A job over races nobody collected would only fail later: refuse it now."""
    known = set(await info.context.read(lambda session: existing_race_ids(session, race_ids)))
    if missing := [race_id for race_id in race_ids if race_id not in known]:
        raise NotFound(f"unknown race ids: {', '.join(missing[:10])}", field="input.raceIds")


async def _require_runs(info: Info, run_ids: list[str], prompt_id: str) -> None:
    known = await info.context.read(lambda session: existing_run_ids(session, run_ids, prompt_id))
    if missing := [run_id for run_id in run_ids if run_id not in known]:
        raise NotFound(
            f"no predictions of {prompt_id} in runs: {', '.join(missing[:10])}",
            field="input.runIds",
        )


@contextmanager
def input_fields() -> Iterator[None]:
    """Report a service's field names as fields of the mutation's input argument."""
    try:
        yield
    except AppError as error:
        if error.field is not None and not error.field.startswith("input."):
            error.field = f"input.{error.field}"
        raise
