"""The security suite, against a production-mode server (masked errors, no anonymous reads).

- Every mutation without a key, with a key lacking its scope, with a revoked key.
- A WebSocket without a key, and hostile connection_init payloads.
- Depth, alias and token bombs; an oversized body.
- Hostile strings and numbers in every argument and input field of every query and
  mutation, found from the exported schema.

Each gets its typed error (never a 500 or an unexpected error), writes nothing, and
neither the answers nor the server's log hold a key, a stack trace or SQL.
(Rate limits across processes: test_limits.py; keys and scopes in detail: test_access.py.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    Undefined,
    build_schema,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kra_graphql.access.keys import ALL_SCOPES, Scope, create_key, revoke_key
from kra_graphql.config import Settings
from tests.access_support import LEGACY_WS, TRANSPORT_WS, codes, new_key, post, ws_exchange
from tests.conftest import API_KEY, api_server
from tests.support import ROOT, Process

JOB = "job_{}"
# Every mutation with arguments that would pass with the right key, and the scope it needs.
MUTATIONS: dict[str, tuple[str, Scope | None]] = {
    "collectRaces": ('collectRaces(input: {date: "20240102", meet: 1})', Scope.COLLECT),
    "enrichRaces": ('enrichRaces(input: {raceIds: ["race_1_20250105_1"]})', Scope.COLLECT),
    "collectResults": ('collectResults(input: {date: "20240102", meet: 1})', Scope.COLLECT),
    "backfillRaces": (
        'backfillRaces(input: {dateFrom: "20240102", dateTo: "20240102"})',
        Scope.COLLECT,
    ),
    "predictRace": (
        'predictRace(input: {raceId: "race_1_20250105_1", promptId: "form-weights-v1.0"})',
        Scope.PREDICT,
    ),
    "evaluatePrompt": (
        'evaluatePrompt(input: {promptId: "form-weights-v1.0", raceIds: ["race_1_20250105_1"]})',
        Scope.PREDICT,
    ),
    "improvePrompt": (
        'improvePrompt(input: {promptId: "form-weights-v1.0", iterations: 1, sampleSize: 10})',
        Scope.PREDICT,
    ),
    "createPrompt": (
        'createPrompt(input: {name: "sec-probe", version: "v1", text: "t", predictor: FORM})',
        Scope.PREDICT,
    ),
    "predictRaces": (
        'predictRaces(input: {date: "20240102", meet: 1, promptId: "form-weights-v1.0"})',
        Scope.PREDICT,
    ),
    "activatePrompt": ('activatePrompt(id: "market-v1.0")', Scope.PREDICT),
    "trainModel": ('trainModel(input: {dateFrom: "20240101", dateTo: "20240102"})', Scope.PREDICT),
    "runRaceDay": ('runRaceDay(input: {date: "20240102"})', Scope.ADMIN),
    "cancelJob": ('cancelJob(id: "{job}")', None),
    "retryJob": ('retryJob(id: "{job}")', None),
    "createApiKey": ('createApiKey(input: {name: "sec-made", scopes: [ADMIN]})', Scope.ADMIN),
    "revokeApiKey": ('revokeApiKey(name: "{victim}")', Scope.ADMIN),
    "createWebhook": (
        'createWebhook(input: {url: "https://example.org/hook", events: [JOB_FAILED]})',
        Scope.ADMIN,
    ),
    "deleteWebhook": ('deleteWebhook(id: "webhook_0")', Scope.ADMIN),
    "exportDataset": (
        'exportDataset(input: {dateFrom: "20240102", dateTo: "20240102"})',
        Scope.READ,
    ),
}
SECRET_MARKERS = ("Traceback", "asyncpg", "sqlalchemy", "SELECT ", "key_hash", 'File "')
KNOWN_CODES = {"BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "RATE_LIMITED"}
SCHEMA = build_schema((ROOT / "schema.graphql").read_text())


def test_every_mutation_of_the_schema_is_in_the_suite() -> None:
    schema = SCHEMA
    assert schema.mutation_type is not None
    assert set(schema.mutation_type.fields) == set(MUTATIONS)


@pytest.fixture(scope="module")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    log = tmp_path_factory.mktemp("security") / "api.log"
    with api_server(settings, log, ENVIRONMENT="production") as (url, process):
        process.url = url  # type: ignore[attr-defined]
        yield process


def url_of(server: Process) -> str:
    url: str = server.url  # type: ignore[attr-defined]
    return url


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    async with sessions() as session:
        counts = {
            table: (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in ("jobs", "prompts", "predictions", "evaluations", "api_keys")
        }
        jobs = (await session.execute(text("SELECT id, status, retry_count FROM jobs"))).all()
        keys = (await session.execute(text("SELECT name, revoked_at FROM api_keys"))).all()
    return {"counts": counts, "jobs": sorted(map(tuple, jobs)), "keys": sorted(map(tuple, keys))}


def assert_clean(response: httpx.Response, sent: object = None) -> None:
    """A typed answer with nothing in it the caller should not see (beyond what it sent)."""
    assert response.status_code < 500, response.text[:300]
    body = response.json()
    for error in body.get("errors", []):
        assert error["extensions"]["code"] in KNOWN_CODES, error
    answer = response.text
    if isinstance(sent, str):
        for form in (sent, json.dumps(sent)[1:-1], json.dumps(sent, ensure_ascii=False)[1:-1]):
            answer = answer.replace(form, "")
    for marker in (*SECRET_MARKERS, API_KEY):
        assert marker not in answer, marker


@pytest.fixture(scope="module")
async def targets(server: Process, sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A failed job of the all-scope key and a key to revoke, for cancel/retry/revoke."""
    job = await post(
        url_of(server),
        'mutation { collectRaces(input: {date: "20240102", meet: 1}) { id } }',
        key=API_KEY,
    )
    job_id = job.json()["data"]["collectRaces"]["id"]
    await post(url_of(server), f'mutation {{ cancelJob(id: "{job_id}") {{ id }} }}', key=API_KEY)
    victim, _ = await new_key(sessions, Scope.READ)
    return {"job": job_id, "victim": victim}


def document(name: str, targets: dict[str, str]) -> str:
    call = (
        MUTATIONS[name][0].replace("{job}", targets["job"]).replace("{victim}", targets["victim"])
    )
    return f"mutation {{ {call} {{ __typename }} }}"


async def test_every_mutation_refuses_a_missing_a_wrong_scope_and_a_revoked_key(
    server: Process, sessions: async_sessionmaker[AsyncSession], targets: dict[str, str]
) -> None:
    revoked = await create_key(sessions, f"sec-revoked-{uuid.uuid4().hex[:6]}", ALL_SCOPES)
    await revoke_key(sessions, revoked.row.name)
    before = await snapshot(sessions)
    results: list[tuple[str, str, int, list[str]]] = []
    for name, (_, scope) in MUTATIONS.items():
        # Every scope but the one needed; for cancel/retry, every scope but admin and not the
        # submitter of the job.
        missing = scope or Scope.ADMIN
        _, wrong = await new_key(sessions, *(s for s in Scope if s is not missing))
        for caller, key in (("none", None), ("wrong scope", wrong), ("revoked", revoked.key)):
            response = await post(url_of(server), document(name, targets), key=key)
            assert_clean(response)
            assert response.json()["data"] is None
            results.append((name, caller, response.status_code, codes(response)))
    after = await snapshot(sessions)

    expected = {"none": (401, "UNAUTHENTICATED"), "revoked": (401, "UNAUTHENTICATED")}
    for name, caller, status, found in results:
        if caller == "wrong scope":
            # Ownership is decided by the resolver, after the operation was let in; another
            # key's job is refused as a missing one.
            want = (200, "NOT_FOUND") if name in {"cancelJob", "retryJob"} else (403, "FORBIDDEN")
        else:
            want = expected[caller]
        assert (status, found) == (want[0], [want[1]]), (name, caller)
    # The keys made above are the only rows added.
    assert after["jobs"] == before["jobs"]
    assert {k: v for k, v in after["counts"].items() if k != "api_keys"} == {
        k: v for k, v in before["counts"].items() if k != "api_keys"
    }
    assert after["counts"]["api_keys"] == before["counts"]["api_keys"] + len(MUTATIONS)
    assert set(before["keys"]) <= set(after["keys"])


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize(
    "payload",
    [None, {}, {"apiKey": "x" * 10_000}, {"apiKey": None}, {"apiKey": ["kra_x"]},
     {"Authorization": "Basic abc"}, {"Authorization": {"Bearer": API_KEY}}],
)  # fmt: skip
async def test_a_websocket_without_a_valid_key_closes_4403_before_anything_runs(
    server: Process, protocol: str, payload: dict[str, Any] | None
) -> None:
    messages, code = await ws_exchange(
        url_of(server), protocol, payload, subscribe="subscription { jobEvents { sequence } }"
    )
    assert code == 4403
    assert not [m for m in messages if m["type"] in {"next", "data", "connection_ack"}]
    assert API_KEY not in json.dumps(messages)


@pytest.mark.parametrize(
    ("query", "limit"),
    [
        ("{ jobs { edges { node { " + "parent { " * 12 + "id" + " }" * 12 + " } } } }", "depth"),
        ("{ " + " ".join(f"j{i}: jobs(first: 100) {{ totalCount }}" for i in range(25)) + " }",
         "aliases"),
        ("{ " + "races { totalCount } " * 800 + "}", "tokens"),
    ],
)  # fmt: skip
async def test_document_bombs_get_a_typed_error(server: Process, query: str, limit: str) -> None:
    response = await post(url_of(server), query, key=API_KEY)
    assert_clean(response)
    assert response.json()["errors"][0]["extensions"]["limit"] == limit
    assert response.json().get("data") is None


async def test_an_oversized_body_gets_413(server: Process) -> None:
    response = await post(
        url_of(server), "{ __typename }", key=API_KEY, variables={"pad": "한" * 200_000}
    )
    assert response.status_code == 413
    assert codes(response) == ["BAD_USER_INPUT"]


# --- hostile values in every argument and input field --------------------------------------

HOSTILE_TEXT = [
    "' OR '1'='1' --",
    "1; DROP TABLE jobs; --",
    "race_1_20250105_1' UNION SELECT key_hash FROM api_keys --",
    "서울경마장" * 100,
    "경마" * 12_000,
    "ab\x00cd",
    "\x1b[2J\x07\u202emalicious",
]
HOSTILE_INT = [2**31, -(2**31) - 1, 10**18]
HOSTILE_FLOAT = [1e308, -1e308, 5e-324]
# Defaults that pass validation, so the hostile value is what gets judged.
DEFAULTS: dict[str, Any] = {
    "date": "20250105", "dateFrom": "20250105", "dateTo": "20250105", "meet": 1,
    "raceId": "race_1_20250105_1", "raceIds": ["race_1_20250105_1"], "promptId":
    "form-weights-v1.0", "name": "sec-default", "version": "v1", "text": "t", "first": 5,
    "iterations": 1, "sampleSize": 10,
}  # fmt: skip


@dataclass(frozen=True)
class Leaf:
    operation: str
    field: str
    path: tuple[str, ...]
    kind: str  # "text", "int" or "float"

    @property
    def label(self) -> str:
        return f"{self.operation} {self.field}({'.'.join(self.path)})"


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _leaves(
    type_: GraphQLInputType, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], str]]:
    named = _named(type_)
    if isinstance(named, GraphQLInputObjectType):
        for name, field in named.fields.items():
            yield from _leaves(field.type, (*path, name))
    elif isinstance(named, GraphQLScalarType):
        kind = {"Int": "int", "Float": "float"}.get(named.name, "text")
        if named.name != "Boolean":
            yield path, kind


def _default(name: str, type_: GraphQLInputType) -> Any:
    named = _named(type_)
    value: Any
    if isinstance(named, GraphQLInputObjectType):
        value = {
            field_name: _default(field_name, field.type)
            for field_name, field in named.fields.items()
            if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        }
    elif isinstance(named, GraphQLEnumType):
        value = next(iter(named.values))
    elif name in DEFAULTS:
        return DEFAULTS[name]
    else:
        value = {"Int": 1, "Float": 0.7, "Boolean": False, "JSON": {}}.get(named.name, "x")
    return (
        [value]
        if isinstance(type_, GraphQLNonNull) and isinstance(type_.of_type, GraphQLList)
        else value
    )


def _all_leaves() -> list[Leaf]:
    schema = SCHEMA
    leaves = []
    for operation, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        assert root is not None
        for field_name, field in root.fields.items():
            for arg_name, arg in field.args.items():
                for path, kind in _leaves(arg.type, (arg_name,)):
                    leaves.append(Leaf(operation, field_name, path, kind))
    return leaves


LEAVES = _all_leaves()


def _request(leaf: Leaf, value: Any) -> tuple[str, dict[str, Any]]:
    schema = SCHEMA
    root = schema.query_type if leaf.operation == "query" else schema.mutation_type
    assert root is not None
    field: GraphQLField = root.fields[leaf.field]
    variables: dict[str, Any] = {}
    declarations, arguments = [], []
    for arg_name, arg in field.args.items():
        if arg_name != leaf.path[0] and not (
            isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
        ):
            continue
        given = _default(arg_name, arg.type)
        if arg_name == leaf.path[0]:
            given = _with(given, leaf.path[1:], value, arg.type)
        variables[arg_name] = given
        declarations.append(f"${arg_name}: {arg.type}")
        arguments.append(f"{arg_name}: ${arg_name}")
    selection = " { __typename }" if not isinstance(_named(field.type), GraphQLScalarType) else ""
    head = f"({', '.join(declarations)})" if declarations else ""
    args = f"({', '.join(arguments)})" if arguments else ""
    return f"{leaf.operation} Probe{head} {{ {leaf.field}{args}{selection} }}", variables


def _with(container: Any, path: tuple[str, ...], value: Any, type_: Any) -> Any:
    if not path:
        return [value] if isinstance(_unwrap_non_null(type_), GraphQLList) else value
    named = _named(type_)
    assert isinstance(named, GraphQLInputObjectType)
    result = dict(container if isinstance(container, dict) else {})
    result[path[0]] = _with(result.get(path[0]), path[1:], value, named.fields[path[0]].type)
    return result


def _unwrap_non_null(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def test_the_sweep_reaches_every_filter_and_input() -> None:
    labels = {leaf.label for leaf in LEAVES}
    for expected in (
        "query races(filter.raceClass)", "query horses(filter.name)",
        "query jobs(filter.requestedBy)",
        "query predictions(filter.raceId)", "mutation createPrompt(input.text)",
        "mutation collectRaces(input.date)", "mutation improvePrompt(input.trainShare)",
        "query race(id)", "mutation createApiKey(input.name)",
    ):  # fmt: skip
        assert expected in labels
    assert len(LEAVES) > 50


# Free text that is stored as given: a hostile value is accepted there, verbatim.
FREE_TEXT = {("createPrompt", ("input", "text"))}


async def test_hostile_values_in_every_argument_get_typed_errors_and_write_nothing(
    server: Process, sessions: async_sessionmaker[AsyncSession]
) -> None:
    before = await snapshot(sessions)
    accepted: list[str] = []
    async with httpx.AsyncClient(base_url=url_of(server), timeout=60) as client:
        for leaf in LEAVES:
            hostile: dict[str, list[Any]] = {
                "text": HOSTILE_TEXT, "int": HOSTILE_INT, "float": HOSTILE_FLOAT
            }  # fmt: skip
            values = hostile[leaf.kind]
            for value in values:
                query, variables = _request(leaf, value)
                response = await client.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"Authorization": f"Bearer {API_KEY}"},
                )
                assert_clean(response, sent=value)
                body = response.json()
                if leaf.operation == "mutation" and "errors" not in body:
                    accepted.append(f"{leaf.label}={str(value)[:20]!r}")
                if isinstance(value, str) and ("\x00" in value or len(value) > 20_000):
                    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", leaf
    after = await snapshot(sessions)

    # Mutations only went through where their input is free text, and those rows keep the
    # hostile text exactly as sent.
    assert all(
        any(label.startswith(f"mutation {f}({'.'.join(p)})") for f, p in FREE_TEXT)
        for label in accepted
    ), accepted
    async with sessions() as session:
        stored = (
            await session.execute(text("SELECT text FROM prompts WHERE name = 'sec-default'"))
        ).scalars()
        texts = set(stored)
        await session.execute(text("DELETE FROM prompts WHERE name = 'sec-default'"))
        await session.commit()
    assert texts <= set(HOSTILE_TEXT)
    assert after["jobs"] == before["jobs"]
    assert after["keys"] == before["keys"]
    assert after["counts"]["predictions"] == before["counts"]["predictions"]
    assert after["counts"]["evaluations"] == before["counts"]["evaluations"]


def test_the_log_holds_no_key_no_trace_and_no_unexpected_error(server: Process) -> None:
    output = server.output()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert lines
    assert API_KEY not in output
    assert "Traceback" not in output
    assert not [line for line in lines if line["event"] == "graphql.unexpected_error"]
    assert "\x00" not in output
