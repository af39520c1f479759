"""The export job kind: what a worker runs, and the mutation that submits it.

`read` is its scope: an export holds nothing a reader could not page out of the API
(the same races, entries, results, predictions and people), only in one go.
"""

from __future__ import annotations

from typing import Any

from kra_graphql.access.keys import Scope
from kra_graphql.export.params import ExportParams
from kra_graphql.export.service import export_dataset
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.registry import JobDefinition, JobMutation
from kra_graphql.jobs.states import JobKind
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.runtime import Runtime


async def _export(
    runtime: Runtime, progress: Progress, params: ExportParams, _clients: WorkerClients
) -> JobOutcome:
    return await export_dataset(runtime, progress, params)


JOBS: tuple[JobDefinition[Any], ...] = (
    JobDefinition(JobKind.EXPORT, ExportParams, _export, JobMutation("exportDataset", Scope.READ)),
)
