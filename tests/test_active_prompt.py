"""activatePrompt: one active version per strategy, switched atomically."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError

from kra_graphql.prediction.models import PredictorKind
from kra_graphql.prediction.prompts import activate_prompt, active_prompt
from kra_graphql.runtime import Runtime

DEFAULT_FORM = "form-weights-v1.0"
PROMPTS = "{ prompts { id predictor active } }"
ACTIVATE = "mutation A($id: ID!) { activatePrompt(id: $id) { id predictor active } }"
CREATE = """
mutation C($input: CreatePromptInput!) { createPrompt(input: $input) { id active } }
"""


def request(document: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


async def active_ids(session: AsyncClientSession) -> dict[str, list[str]]:
    prompts = (await session.execute(request(PROMPTS)))["prompts"]
    found: dict[str, list[str]] = {}
    for prompt in prompts:
        if prompt["active"]:
            found.setdefault(prompt["predictor"], []).append(prompt["id"])
    return found


async def activate(session: AsyncClientSession, prompt_id: str) -> dict[str, Any]:
    activated: dict[str, Any] = (await session.execute(request(ACTIVATE, id=prompt_id)))[
        "activatePrompt"
    ]
    return activated


@pytest.fixture
async def form_versions(
    gql_session: AsyncClientSession, runtime: Runtime
) -> AsyncIterator[list[str]]:
    """Two new FORM versions; the default FORM prompt is active again afterwards."""
    name = f"champion-{uuid.uuid4().hex[:8]}"
    ids = []
    for version in ("v1", "v2"):
        created = await gql_session.execute(
            request(
                CREATE,
                input={"name": name, "version": version, "text": "form", "predictor": "FORM"},
            )
        )
        assert created["createPrompt"]["active"] is False
        ids.append(created["createPrompt"]["id"])
    yield ids
    await activate_prompt(runtime, DEFAULT_FORM)


async def test_the_default_form_prompt_is_active_after_migration(
    gql_session: AsyncClientSession, runtime: Runtime
) -> None:
    assert (await active_ids(gql_session)).get("FORM") == [DEFAULT_FORM]
    async with runtime.sessions() as session:
        form = await active_prompt(session, PredictorKind.FORM)
        market = await active_prompt(session, PredictorKind.MARKET)
    assert form is not None
    assert form.id == DEFAULT_FORM
    assert market is None


async def test_activating_a_version_deactivates_the_previous_one_of_its_strategy(
    gql_session: AsyncClientSession, runtime: Runtime, form_versions: list[str]
) -> None:
    first, second = form_versions
    before = await active_ids(gql_session)

    assert await activate(gql_session, first) == {"id": first, "predictor": "FORM", "active": True}
    assert (await active_ids(gql_session))["FORM"] == [first]

    await activate(gql_session, second)
    after = await active_ids(gql_session)
    assert after["FORM"] == [second]
    # Other strategies keep what they had.
    assert {k: v for k, v in after.items() if k != "FORM"} == {
        k: v for k, v in before.items() if k != "FORM"
    }
    async with runtime.sessions() as session:
        champion = await active_prompt(session, PredictorKind.FORM)
    assert champion is not None
    assert champion.id == second

    # Activating the active one again changes nothing.
    await activate(gql_session, second)
    assert (await active_ids(gql_session))["FORM"] == [second]


async def test_concurrent_activations_leave_exactly_one_active(
    gql_session: AsyncClientSession, form_versions: list[str]
) -> None:
    for _ in range(5):
        results = await asyncio.gather(
            *(activate(gql_session, prompt_id) for prompt_id in (*form_versions, DEFAULT_FORM))
        )
        assert all(result["active"] for result in results)
        active = (await active_ids(gql_session))["FORM"]
        assert len(active) == 1
        assert active[0] in {*form_versions, DEFAULT_FORM}


async def test_an_unknown_prompt_is_not_found(gql_session: AsyncClientSession) -> None:
    with pytest.raises(TransportQueryError) as raised:
        await activate(gql_session, "no-such-prompt-v9")
    error = (raised.value.errors or [{}])[0]
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "id"}
    assert (await active_ids(gql_session)).get("FORM") == [DEFAULT_FORM]
