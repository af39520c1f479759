"""With the fast path's runner, extension hooks of every kind run once per stage and once
per subscription result, as Strawberry runs them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, ClassVar

import strawberry
from strawberry.extensions import SchemaExtension

from kra_graphql.graphql.fastpath.runner import fast_schema_class
from kra_graphql.graphql.schema import Schema

FastSchema = fast_schema_class(Schema)

CALLS: list[str] = []


class AsyncGenerators(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        CALLS.append("operation:enter")
        yield
        CALLS.append("operation:exit")

    async def on_execute(self) -> AsyncIterator[None]:
        CALLS.append("execute:enter")
        yield
        CALLS.append("execute:exit")


class Generators(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        CALLS.append("parse:enter")
        yield
        CALLS.append("parse:exit")


class Callables(SchemaExtension):
    def on_operation(self) -> None:  # type: ignore[override]
        CALLS.append("operation")

    async def on_validate(self) -> None:  # type: ignore[override]
        CALLS.append("validate")

    def on_stream_result(self, result: Any) -> None:  # type: ignore[override]
        CALLS.append(f"result:{result.data}")

    def get_results(self) -> dict[str, Any]:
        return {"seen": len(CALLS)}


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "hi"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self) -> AsyncGenerator[int, None]:
        for number in (1, 2):
            yield number


schema = FastSchema(
    query=Query, subscription=Subscription, extensions=[AsyncGenerators, Generators, Callables]
)


async def test_every_kind_of_hook_runs_once_per_stage_in_order() -> None:
    for _ in range(2):  # the second request uses the cached wrapping
        CALLS.clear()
        result = await schema.execute("{ hello }")
        assert result.errors is None
        assert result.data == {"hello": "hi"}
        assert CALLS == [
            "operation:enter",
            "operation",
            "parse:enter",
            "parse:exit",
            "validate",
            "execute:enter",
            "execute:exit",
            "operation:exit",
        ]
        assert result.extensions == {"seen": 8}


async def test_another_extensions_stream_result_hook_runs_for_every_event() -> None:
    CALLS.clear()
    stream = await schema.subscribe("subscription { count }")
    assert not isinstance(stream, strawberry.types.ExecutionResult)
    results = [result.data async for result in stream]
    assert results == [{"count": 1}, {"count": 2}]
    assert [call for call in CALLS if call.startswith("result:")] == [
        "result:{'count': 1}",
        "result:{'count': 2}",
    ]


class Refusing(SchemaExtension):
    """One hook per stage: raises before execution, and sees what crosses the operation."""

    seen: ClassVar[list[str]] = []

    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        except Exception as error:
            Refusing.seen.append(f"operation saw {error!r}")
            raise
        Refusing.seen.append("operation ended")

    async def on_execute(self) -> AsyncIterator[None]:
        raise ValueError("refused")
        yield  # pragma: no cover


async def test_a_single_hook_raising_gives_what_strawberrys_exit_stack_gives() -> None:
    outcomes = []
    for schema_class in (strawberry.Schema, FastSchema):
        Refusing.seen = []
        result = await schema_class(query=Query, extensions=[Refusing]).execute("{ hello }")
        outcomes.append((result.data, [e.message for e in result.errors or []], Refusing.seen))
    stock, ours = outcomes
    assert ours == stock
    assert ours[1] == ["refused"]
