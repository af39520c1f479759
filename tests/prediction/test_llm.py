"""The LLM predictor against the fake chat-completions server (a real HTTP server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from kra_graphql.prediction.fake_llm import AnswerMode
from kra_graphql.prediction.predictors import FormPredictor, LlmPredictor, render_prompt
from tests.prediction.cards import card, prompt, runner
from tests.support import free_port

# Gate 1 is scratched, so the fake's "first three starters" are 2, 3, 4; the form order
# (all runners alike but the rating) is 6, 5, 4.
CARD = card([runner(1, scratched=True), *(runner(g, rating=40 + 5 * g) for g in range(2, 7))])
PROMPT = prompt("LLM", text="Pick the first three of this race:\n{race_card}")
FORM_ORDER = FormPredictor().answer(CARD, {}).picks


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def predictor(client: httpx.AsyncClient, url: str, **options: float) -> LlmPredictor:
    settings: dict[str, float] = {"timeout_s": 2.0, "retries": 1, "backoff_s": 0.01}
    settings.update(options)
    return LlmPredictor(
        client,
        base_url=url,
        model="fake-1",
        api_key="test-key",
        timeout_s=settings["timeout_s"],
        retries=int(settings["retries"]),
        concurrency=int(settings.get("concurrency", 4)),
        backoff_s=settings["backoff_s"],
    )


def test_card_is_rendered_into_the_prompt() -> None:
    text = render_prompt(PROMPT.text, CARD)
    assert text.startswith("Pick the first three of this race:\n{")
    assert '"gate": 6' in text
    assert "finish_position" not in text
    appended = render_prompt("No placeholder.", CARD)
    assert appended.startswith("No placeholder.\n\nRace card (JSON):\n{")


def test_fallback_is_the_form_order() -> None:
    assert FORM_ORDER == (6, 5, 4)


@pytest.mark.parametrize("mode", [AnswerMode.VALID, AnswerMode.FENCED, AnswerMode.EMBEDDED])
async def test_readable_answers(
    mode: AnswerMode, fake_llm: httpx.AsyncClient, fake_llm_url: str, client: httpx.AsyncClient
) -> None:
    await fake_llm.post("/_admin/config", json={"mode": mode.value})
    answer = await predictor(client, fake_llm_url).predict(CARD, PROMPT)
    assert answer.valid
    assert answer.picks == (2, 3, 4)
    assert answer.confidence == 42
    assert answer.reasoning == "lowest gates first"
    assert answer.model_version == "llm:fake-1"
    assert (await fake_llm.get("/_admin/stats")).json()["requests"] == 1


async def test_the_prompt_text_steers_the_fake(
    fake_llm: httpx.AsyncClient, fake_llm_url: str, client: httpx.AsyncClient
) -> None:
    steered = prompt("LLM", text="rank by: -gate\nPick the first three:\n{race_card}")
    answer = await predictor(client, fake_llm_url).predict(CARD, steered)
    assert answer.valid
    assert answer.picks == (6, 5, 4)
    assert answer.reasoning == "ranked by -gate"


@pytest.mark.parametrize("mode", [AnswerMode.MALFORMED, AnswerMode.WRONG_GATES])
async def test_unusable_answers_fall_back_without_retrying(
    mode: AnswerMode, fake_llm: httpx.AsyncClient, fake_llm_url: str, client: httpx.AsyncClient
) -> None:
    await fake_llm.post("/_admin/config", json={"mode": mode.value})
    answer = await predictor(client, fake_llm_url).predict(CARD, PROMPT)
    assert not answer.valid
    assert answer.picks == FORM_ORDER
    assert answer.reasoning.startswith("Invalid answer")
    assert (await fake_llm.get("/_admin/stats")).json()["requests"] == 1


async def test_timeout_retries_then_falls_back(
    fake_llm: httpx.AsyncClient, fake_llm_url: str, client: httpx.AsyncClient
) -> None:
    await fake_llm.post("/_admin/config", json={"mode": "timeout", "hang_ms": 1500})
    started = time.monotonic()
    answer = await predictor(client, fake_llm_url, timeout_s=0.2, retries=1).predict(CARD, PROMPT)
    elapsed = time.monotonic() - started
    assert not answer.valid
    assert "timed out" in answer.reasoning
    assert answer.picks == FORM_ORDER
    assert elapsed < 1.5
    assert (await fake_llm.get("/_admin/stats")).json()["requests"] == 2  # 1 + 1 retry


async def test_server_errors_are_retried(
    fake_llm: httpx.AsyncClient, fake_llm_url: str, client: httpx.AsyncClient
) -> None:
    await fake_llm.post("/_admin/config", json={"mode": "error"})
    answer = await predictor(client, fake_llm_url, retries=2).predict(CARD, PROMPT)
    assert not answer.valid
    assert "HTTP 503" in answer.reasoning
    assert (await fake_llm.get("/_admin/stats")).json()["requests"] == 3


async def test_unreachable_endpoint_falls_back(client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    answer = await predictor(client, url, retries=0).predict(CARD, PROMPT)
    assert not answer.valid
    assert answer.picks == FORM_ORDER


async def test_concurrency_limit_holds(
    fake_llm: httpx.AsyncClient, fake_llm_url: str, client: httpx.AsyncClient
) -> None:
    await fake_llm.post("/_admin/config", json={"mode": "valid", "latency_ms": 150})
    limited = predictor(client, fake_llm_url, concurrency=2)
    started = time.monotonic()
    answers = await asyncio.gather(*(limited.predict(CARD, PROMPT) for _ in range(4)))
    elapsed = time.monotonic() - started
    assert all(a.valid for a in answers)
    assert elapsed >= 0.3  # four requests of 150 ms, two at a time
    assert (await fake_llm.get("/_admin/stats")).json()["requests"] == 4
