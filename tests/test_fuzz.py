"""Property-based fuzzing of the running server from the exported schema (hypothesis-graphql).

Hundreds of generated queries and mutations, valid ones and ones breaking the schema in
one place, go to a production-mode uvicorn server over HTTP. Whatever they ask, the answer
is never a 5xx, every error carries a code from the fixed set and none is an internal
error, and the server logs no unexpected error. The server has a database of its own
(with a few races in it) and a queue no worker serves, so generated jobs stay put.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, nodes
from hypothesis_graphql import strategies as gql_st

from kra_graphql.config import Settings
from kra_graphql.db import create_engine
from kra_graphql.migrate import upgrade_engine
from kra_graphql.runtime import Runtime
from tests.conftest import API_KEY, RUN_ID, api_server, create_database, drop_database
from tests.factories import seed_races
from tests.support import ROOT, Process

SDL = (ROOT / "schema.graphql").read_text()
KNOWN_CODES = {"BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "RATE_LIMITED"}
FUZZ = dict(  # noqa: C408 - passed on as keyword arguments
    deadline=None,
    database=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_scalar_values = st.one_of(
    st.integers(-1000, 1000).map(nodes.Int),
    st.text(max_size=12).map(nodes.String),
    st.booleans().map(nodes.Boolean),
)
_json_values = st.recursive(
    _scalar_values, lambda inner: st.lists(inner, max_size=3).map(nodes.List), max_leaves=6
)
_json_objects = st.dictionaries(
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True), _json_values, max_size=4
).map(
    lambda fields: nodes.Object(
        [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=name), value=value)
            for name, value in fields.items()
        ]
    )
)
CUSTOM_SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "JSON": st.one_of(_json_objects, _json_values),
    "DateTime": st.datetimes(timezones=st.just(UTC)).map(lambda moment: nodes.String(moment)),
}


@pytest.fixture(scope="module")
async def fuzz_server(
    settings: Settings, redis_keys: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, Process]]:
    name = f"kra_test_{RUN_ID}_fuzz_{uuid.uuid4().hex[:6]}"
    url = await create_database(name)
    # Through the validator, which picks the async driver.
    own = settings.model_copy(update={"database_url": Settings(database_url=url).database_url})
    engine = create_engine(own)
    await upgrade_engine(engine)
    await engine.dispose()
    runtime = Runtime.create(own)
    await seed_races(runtime, days=[date(2090, 6, 1)], meets=(1, 2), races_per_meet=2)
    await runtime.close()
    log = tmp_path_factory.mktemp("fuzz") / "api.log"
    try:
        with api_server(
            settings,
            log,
            DATABASE_URL=url,
            ENVIRONMENT="production",
            REDIS_PREFIX=f"{redis_keys}fuzz:",
            ARQ_QUEUE_NAME=f"{redis_keys}fuzz-queue",
        ) as server:
            yield server
    finally:
        await drop_database(name)


class Checker:
    """Sends each generated document and checks the answer; counts what it sent."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(
            base_url=url, timeout=30, headers={"Authorization": f"Bearer {API_KEY}"}
        )
        self.sent = 0
        self.answered_with_data = 0

    def __call__(self, document: str) -> None:
        response = self.client.post("/graphql", json={"query": document})
        self.sent += 1
        assert response.status_code < 500, (document, response.text[:500])
        body: dict[str, Any] = response.json()
        for error in body.get("errors") or []:
            code = error.get("extensions", {}).get("code")
            assert code in KNOWN_CODES, (document, error)
        assert "Traceback" not in response.text
        if body.get("data"):
            self.answered_with_data += 1


def _run(strategy: st.SearchStrategy[str], check: Checker, examples: int) -> None:
    @settings(max_examples=examples, **FUZZ)  # type: ignore[arg-type]
    @given(document=strategy)
    def send(document: str) -> None:
        check(document)

    send()


def test_generated_operations_never_fail_the_server(fuzz_server: tuple[str, Process]) -> None:
    url, process = fuzz_server
    check = Checker(url)
    try:
        _run(gql_st.queries(SDL, custom_scalars=CUSTOM_SCALARS), check, 250)
        _run(gql_st.mutations(SDL, custom_scalars=CUSTOM_SCALARS), check, 120)
        negative = gql_st.from_schema(SDL, custom_scalars=CUSTOM_SCALARS, mode=Mode.NEGATIVE)
        _run(negative, check, 100)
    finally:
        check.client.close()
    assert check.sent >= 400
    # Most valid queries are answered, not refused: the fuzzing reaches the resolvers.
    assert check.answered_with_data >= 80
    lines = [json.loads(line) for line in process.output().splitlines() if line.strip()]
    unexpected = [line for line in lines if line["event"] == "graphql.unexpected_error"]
    assert unexpected == []
