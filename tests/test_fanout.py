"""One hub event, many subscribers: each subscription document is answered and encoded once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import delete
from sqlmodel import col
from strawberry.types import ExecutionResult

from kra_graphql.config import Environment
from kra_graphql.db import create_engine, create_sessionmaker
from kra_graphql.graphql.context import Context
from kra_graphql.graphql.fastpath import ON
from kra_graphql.graphql.fastpath.executor import shared_json
from kra_graphql.graphql.schema import schema_for
from kra_graphql.graphql.view import encode_message
from kra_graphql.jobs.events import JobEventType, events_channel
from kra_graphql.jobs.hub import JobEventHub
from kra_graphql.jobs.models import Job, JobKind, JobLog, JobStatus
from kra_graphql.runtime import Runtime
from tests.support import runtime_only_services
from tests.test_hub import event

# Subscribers share answers on the fast path (its `shared` piece).
schema = schema_for(ON)

SAME = "subscription { jobEvents { sequence type job { id status progress } } }"
OTHER = "subscription { jobEvents { sequence job { id } } }"


def _prefix(runtime: Runtime) -> str:
    return runtime.settings.redis_prefix + "fanout:"


@contextlib.asynccontextmanager
async def _own_hub(runtime: Runtime, **options: Any) -> AsyncIterator[JobEventHub]:
    hub = JobEventHub(Redis.from_url(runtime.settings.redis_url or ""), _prefix(runtime), **options)
    try:
        yield hub
    finally:
        await hub.close()


@pytest.fixture
async def hub(runtime: Runtime) -> AsyncIterator[JobEventHub]:
    async with _own_hub(runtime) as hub:
        yield hub


@contextlib.asynccontextmanager
async def _job(runtime: Runtime, *logs: str) -> AsyncIterator[Job]:
    """A PROCESSING job with these log lines, removed afterwards."""
    job = Job(kind=JobKind.COLLECTION, status=JobStatus.PROCESSING, parameters={})
    async with runtime.write() as session:
        session.add(job)
        await session.flush()
        for message in logs:
            session.add(JobLog(job_id=job.id, level="INFO", message=message))
    try:
        yield job
    finally:
        async with runtime.write() as session:
            await session.execute(delete(JobLog).where(col(JobLog.job_id) == job.id))
            await session.execute(delete(Job).where(col(Job.id) == job.id))


async def _until_subscribed(hub: JobEventHub, count: int) -> None:
    """Wait (up to 2 s) until the hub counts this many subscribers."""
    for _ in range(100):
        if hub.subscriber_count == count:
            return
        await asyncio.sleep(0.02)


async def _subscribe(runtime: Runtime, hub: JobEventHub, query: str) -> AsyncGenerator[Any, None]:
    context = Context(runtime_only_services(runtime, hub=hub))
    stream = await schema.subscribe(query, context_value=context)
    assert not isinstance(stream, ExecutionResult), stream
    return cast(AsyncGenerator[Any, None], stream)


async def test_subscribers_of_one_document_share_one_answer_and_one_encoding(
    runtime: Runtime, hub: JobEventHub
) -> None:
    streams = [await _subscribe(runtime, hub, query) for query in (SAME, SAME, OTHER)]
    firsts = [asyncio.ensure_future(anext(stream)) for stream in streams]
    await _until_subscribed(hub, 3)
    assert hub.subscriber_count == 3
    published = event(7, JobEventType.STATUS, job_id="job_shared", status="COMPLETED")
    await runtime.redis.publish(events_channel(_prefix(runtime)), published.encode())
    same_a, same_b, other = await asyncio.wait_for(asyncio.gather(*firsts), 10)
    for stream in streams:
        await stream.aclose()

    assert same_a.errors is None
    assert other.errors is None
    expected = {"sequence": 7, "type": "STATUS",
                "job": {"id": "job_shared", "status": "COMPLETED", "progress": 7}}  # fmt: skip
    assert same_a.data == {"jobEvents": expected}
    assert same_b.data is same_a.data  # computed once for both
    assert other.data == {"jobEvents": {"sequence": 7, "job": {"id": "job_shared"}}}

    # The shared answer is encoded once; each subscriber's envelope carries its own id.
    for operation_id in ("1", "two"):
        message = {"id": operation_id, "type": "next", "payload": {"data": same_b.data}}
        assert orjson.loads(encode_message(message)) == {
            "id": operation_id,
            "type": "next",
            "payload": {"data": {"jobEvents": expected}},
        }
    encoded = shared_json(same_a.data, orjson.dumps)
    assert encoded is not None
    assert shared_json(same_b.data, orjson.dumps) is encoded
    unshared = {"id": "3", "type": "next", "payload": {"data": {"x": 1}}}
    assert encode_message(unshared) == orjson.dumps(unshared).decode()


async def test_an_unexpected_error_in_a_subscription_is_masked_in_production(
    runtime: Runtime, hub: JobEventHub, caplog: pytest.LogCaptureFixture
) -> None:
    """The database is unreachable while an event is answered: the subscriber gets the
    masked message and an errorId, never the exception text."""
    unreachable = create_engine(
        runtime.settings.model_copy(
            update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere"}
        )
    )
    production = dataclasses.replace(
        runtime,
        settings=runtime.settings.model_copy(
            update={"environment": Environment.PRODUCTION, "anonymous_read": True}
        ),
        autocommit=create_sessionmaker(unreachable),
    )
    stream = await _subscribe(
        production, hub, "subscription { jobEvents { job { logs { message } } } }"
    )
    first = asyncio.ensure_future(anext(stream))
    await _until_subscribed(hub, 1)
    published = event(3, JobEventType.STATUS, job_id="job_masked")
    await runtime.redis.publish(events_channel(_prefix(runtime)), published.encode())
    result = await asyncio.wait_for(first, 30)
    # As sent: read before the stream closes (closing formats the last result again).
    assert result.errors is not None
    assert len(result.errors) == 1
    error = result.errors[0]  # the list is replaced on close, this error is kept as is
    await stream.aclose()
    await unreachable.dispose()

    assert error.extensions["code"] == "INTERNAL_SERVER_ERROR"
    assert error.message == f"Internal server error (errorId {error.extensions['errorId']})"
    assert "Connect call failed" not in error.message


async def test_each_event_reads_fresh_data_on_one_connection(
    runtime: Runtime, hub: JobEventHub
) -> None:
    """Loaders cache rows for one execution: a log line written between two events of one
    subscription shows in the second answer."""
    query = 'subscription { jobProgress(id: "%s") { sequence job { logs { message } } } }'
    async with _job(runtime, "first") as job:
        stream = await _subscribe(runtime, hub, query % job.id)
        try:
            snapshot = await asyncio.wait_for(anext(stream), 10)
            assert snapshot.data["jobProgress"]["job"]["logs"] == [{"message": "first"}]
            async with runtime.write() as session:
                session.add(JobLog(job_id=job.id, level="INFO", message="second"))
            published = event(1, JobEventType.LOG, job_id=job.id)
            await runtime.redis.publish(events_channel(_prefix(runtime)), published.encode())
            logged = await asyncio.wait_for(anext(stream), 10)
            assert logged.data["jobProgress"]["job"]["logs"] == [
                {"message": "first"},
                {"message": "second"},
            ]
        finally:
            await stream.aclose()


async def test_a_subscriber_leaving_while_the_shared_answer_is_computed_stalls_no_one(
    runtime: Runtime, hub: JobEventHub
) -> None:
    """The answer to an event is read from the database once for all subscribers of the
    document; the subscriber computing it leaves meanwhile, the others still get it."""
    query = "subscription { jobEvents { sequence job { id logs { message } } } }"
    async with _job(runtime, "shared") as job:
        streams = [await _subscribe(runtime, hub, query) for _ in range(3)]
        nexts = [asyncio.ensure_future(anext(stream)) for stream in streams]
        try:
            await _until_subscribed(hub, 3)
            assert hub.subscriber_count == 3
            published = event(5, JobEventType.STATUS, job_id=job.id, status="PROCESSING")
            await runtime.redis.publish(events_channel(_prefix(runtime)), published.encode())
            # Every subscriber has the event and one of them is reading the answer.
            for _ in range(200):
                await asyncio.sleep(0)
            nexts[0].cancel()
            answers = await asyncio.wait_for(asyncio.gather(*nexts[1:]), 10)
            for answer in answers:
                assert answer.errors is None
                assert answer.data == {
                    "jobEvents": {
                        "sequence": 5,
                        "job": {"id": job.id, "logs": [{"message": "shared"}]},
                    }
                }
        finally:
            for stream in streams:
                await stream.aclose()


async def test_the_hub_resyncs_only_subscribers_that_heard_nothing(
    runtime: Runtime, hub: JobEventHub
) -> None:
    channel = events_channel(_prefix(runtime))
    async with (
        hub.subscribe(lambda e: e.job_id == "job_heard") as heard,
        hub.subscribe(lambda e: e.job_id == "job_silent") as silent,
    ):
        await runtime.redis.publish(
            channel, event(1, JobEventType.LOG, job_id="job_heard").encode()
        )
        received = await asyncio.wait_for(heard.next(), 10)
        assert received is not None
        assert received.job_id == "job_heard"

        hub.resync_idle()
        assert await asyncio.wait_for(silent.next(), 1) is None
        waiting = asyncio.ensure_future(heard.next())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # it heard an event since the last look

        hub.resync_idle()  # and nothing since
        assert await asyncio.wait_for(waiting, 1) is None


async def test_the_hub_looks_for_idle_subscribers_on_its_own(runtime: Runtime) -> None:
    async with (
        _own_hub(runtime, resync_after_s=0.05) as hub,
        hub.subscribe(lambda e: True) as subscriber,
    ):
        assert await asyncio.wait_for(subscriber.next(), 5) is None


async def test_a_job_subscription_re_reads_the_row_when_an_event_was_not_published(
    runtime: Runtime,
) -> None:
    """A writer changed the row but could not publish: the subscriber still sees it."""
    query = 'subscription { jobProgress(id: "%s") { sequence type job { progress } } }'
    async with _own_hub(runtime, resync_after_s=0.1) as hub, _job(runtime) as job:
        stream = await _subscribe(runtime, hub, query % job.id)
        try:
            snapshot = await asyncio.wait_for(anext(stream), 10)
            assert snapshot.data["jobProgress"]["job"]["progress"] == 0
            async with runtime.write() as session:
                row = await session.get(Job, job.id)
                assert row is not None
                row.progress = 42
                row.event_sequence += 1
            changed = await asyncio.wait_for(anext(stream), 10)
            assert changed.errors is None
            assert changed.data == {
                "jobProgress": {
                    "sequence": snapshot.data["jobProgress"]["sequence"] + 1,
                    "type": "SNAPSHOT",
                    "job": {"progress": 42},
                }
            }
        finally:
            await stream.aclose()
