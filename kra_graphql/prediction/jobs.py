"""The prediction job kinds: what a worker runs for each, and the mutation that submits it."""

from __future__ import annotations

from typing import Any

from kra_graphql.access.keys import Scope
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.registry import JobDefinition, JobMutation
from kra_graphql.jobs.states import JobKind
from kra_graphql.prediction.day import DayPredictionParams, predict_day
from kra_graphql.prediction.improvement import ImproveParams, improve_prompt
from kra_graphql.prediction.service import EvaluationParams, evaluate_prompt
from kra_graphql.prediction.training import TrainParams, train_model
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.runtime import Runtime


async def _evaluate(
    runtime: Runtime, progress: Progress, params: EvaluationParams, clients: WorkerClients
) -> JobOutcome:
    return await evaluate_prompt(runtime, clients.predictors, progress, params)


async def _improve(
    runtime: Runtime, progress: Progress, params: ImproveParams, clients: WorkerClients
) -> JobOutcome:
    return await improve_prompt(runtime, progress, params, predictors=clients.predictors)


async def _predict_day(
    runtime: Runtime, progress: Progress, params: DayPredictionParams, clients: WorkerClients
) -> JobOutcome:
    return await predict_day(runtime, clients.predictors, progress, params)


async def _train(
    runtime: Runtime, progress: Progress, params: TrainParams, clients: WorkerClients
) -> JobOutcome:
    return await train_model(runtime, progress, params)


JOBS: tuple[JobDefinition[Any], ...] = (
    JobDefinition(
        JobKind.EVALUATION,
        EvaluationParams,
        _evaluate,
        JobMutation("evaluatePrompt", Scope.PREDICT),
    ),
    JobDefinition(
        JobKind.PROMPT_IMPROVEMENT,
        ImproveParams,
        _improve,
        JobMutation("improvePrompt", Scope.PREDICT),
    ),
    JobDefinition(
        JobKind.PREDICTION,
        DayPredictionParams,
        _predict_day,
        JobMutation("predictRaces", Scope.PREDICT),
    ),
    JobDefinition(
        JobKind.TRAINING,
        TrainParams,
        _train,
        JobMutation("trainModel", Scope.PREDICT),
    ),
)
