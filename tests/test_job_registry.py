"""Job kinds come from one registry: the product's declarations, and a toy kind declared
here that runs end to end as any kind would (submitted as the mutations submit, run by a
real ARQ worker from the registry's handlers, watched over a real subscription)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from graphql import build_schema

from kra_graphql.config import Settings
from kra_graphql.graphql.auth import MUTATION_SCOPES
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.kinds import REGISTRY
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.registry import JobDefinition, JobRegistry
from kra_graphql.jobs.service import JobSubmitter
from kra_graphql.jobs.states import JobKind
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.runtime import Runtime
from tests.access_support import ws_transport
from tests.conftest import API_KEY
from tests.support import ROOT
from workers.settings import create_worker, stop_worker

# The toy takes this kind's place in a worker of its own: a kind the schema knows, so its
# jobs read like any other.
TOY_KIND = JobKind.PREDICTION

PROGRESS = """
subscription Progress($id: ID!) {
  jobProgress(id: $id) {
    type message
    job { kind status progress totalSteps completedSteps currentStep result }
  }
}
"""


@dataclass(frozen=True, slots=True)
class CountParams:
    steps: int

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CountParams:
        return cls(steps=int(data["steps"]))


async def count(
    runtime: Runtime, progress: Progress, params: CountParams, clients: WorkerClients
) -> JobOutcome:
    await progress.set_total(params.steps)
    for number in range(1, params.steps + 1):
        await progress.step(f"counting {number}")
        await progress.log(f"counted {number}")
        await progress.advance()
    return JobOutcome(result={"counted": params.steps, "client": type(clients.kra).__name__})


TOY = JobDefinition(TOY_KIND, CountParams, count)


def test_every_kind_is_declared_once() -> None:
    assert sorted(definition.kind for definition in REGISTRY) == sorted(JobKind)
    with pytest.raises(ValueError, match="declared twice"):
        JobRegistry([*REGISTRY, *REGISTRY])


def test_each_declared_mutation_is_in_the_schema_with_the_scope_it_declares() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    assert schema.mutation_type is not None
    declared = [definition.mutation for definition in REGISTRY if definition.mutation]
    assert len(declared) == 10
    for mutation in declared:
        assert mutation.field in schema.mutation_type.fields
        assert MUTATION_SCOPES[mutation.field] == {mutation.scope}


# ARQ's own shutdown still calls redis-py's deprecated close().
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
async def test_a_toy_kind_runs_from_the_registry_and_streams_its_progress(
    runtime: Runtime, api_url: str, private_queue: tuple[Settings, JobQueue]
) -> None:
    own, queue = private_queue
    job = await JobSubmitter(runtime, queue).submit(
        TOY_KIND, CountParams(steps=3).to_json(), requested_by="test"
    )
    request = GraphQLRequest(PROGRESS, variable_values={"id": job.id})
    async with Client(transport=ws_transport(api_url, API_KEY)) as session:
        stream = session.subscribe(request)
        # The snapshot comes after the server subscribed: no later change can be missed.
        snapshot = (await asyncio.wait_for(anext(stream), 10))["jobProgress"]
        # Only the worker built here knows the toy kind (nothing else drains this queue).
        registry = JobRegistry([*(d for d in REGISTRY if d.kind is not TOY_KIND), TOY])
        worker = create_worker(own, handle_signals=False, registry=registry)
        running = asyncio.ensure_future(worker.async_run())
        try:
            events = await asyncio.wait_for(_rest(stream), 60)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await stop_worker(worker)

    assert snapshot["type"] == "SNAPSHOT"
    assert snapshot["job"]["kind"] == TOY_KIND.value
    assert snapshot["job"]["status"] == "QUEUED"
    steps = [event["job"]["currentStep"] for event in events if event["type"] == "PROGRESS"]
    assert [step for step in dict.fromkeys(steps) if step] == [
        "counting 1",
        "counting 2",
        "counting 3",
    ]
    logs = [event["message"] for event in events if event["type"] == "LOG"]
    assert logs == ["counted 1", "counted 2", "counted 3"]
    last = events[-1]
    assert last["type"] == "STATUS"
    assert last["job"]["status"] == "COMPLETED"
    assert last["job"]["progress"] == 100
    assert last["job"]["completedSteps"] == last["job"]["totalSteps"] == 3
    assert last["job"]["result"] == {"counted": 3, "client": "KraClient", "failures": []}


async def _rest(stream: AsyncGenerator[dict[str, Any], None]) -> list[dict[str, Any]]:
    return [event["jobProgress"] async for event in stream]
