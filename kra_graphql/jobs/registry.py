"""Job kinds, each declared once in the domain package whose service it runs.

A `JobDefinition` names the kind, the type of its parameters, the handler a worker
runs, and the mutation that submits it with the scope that mutation needs. The domain
packages list their definitions in a `jobs` module; `kra_graphql.jobs.kinds` gathers
them into the one registry that the worker's handler table and the API's mutation
scopes are built from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar

from kra_graphql.access.keys import Scope
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.runner import JobHandler
from kra_graphql.jobs.states import JobKind
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.runtime import Runtime


class JobParams(Protocol):
    """A job's parameters: validated once, then stored as JSON on the job row."""

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self: ...


P = TypeVar("P", bound=JobParams)


@dataclass(frozen=True, slots=True)
class JobMutation:
    field: str  # as the schema spells it, e.g. collectRaces
    scope: Scope


@dataclass(frozen=True, slots=True)
class JobDefinition(Generic[P]):
    kind: JobKind
    params: type[P]
    handler: Callable[[Runtime, Progress, P, WorkerClients], Awaitable[JobOutcome]]
    # None where no mutation submits the kind (the command line's import runs it itself).
    mutation: JobMutation | None = None

    def bind(self, clients: WorkerClients) -> JobHandler:
        """The handler as the job runner calls it: parameters as stored, clients at hand."""

        async def run(runtime: Runtime, progress: Progress, data: dict[str, Any]) -> JobOutcome:
            return await self.handler(runtime, progress, self.params.from_json(data), clients)

        return run


class JobRegistry:
    def __init__(self, definitions: Iterable[JobDefinition[Any]]) -> None:
        self._by_kind: dict[JobKind, JobDefinition[Any]] = {}
        mutations: set[str] = set()
        for definition in definitions:
            if definition.kind in self._by_kind:
                raise ValueError(f"job kind {definition.kind} is declared twice")
            if definition.mutation is not None:
                if definition.mutation.field in mutations:
                    raise ValueError(f"mutation {definition.mutation.field} submits two kinds")
                mutations.add(definition.mutation.field)
            self._by_kind[definition.kind] = definition

    def __iter__(self) -> Iterator[JobDefinition[Any]]:
        return iter(self._by_kind.values())

    def handlers(self, clients: WorkerClients) -> dict[str, JobHandler]:
        return {kind: definition.bind(clients) for kind, definition in self._by_kind.items()}

    def mutation_scopes(self) -> dict[str, frozenset[Scope]]:
        return {
            definition.mutation.field: frozenset({definition.mutation.scope})
            for definition in self
            if definition.mutation is not None
        }
