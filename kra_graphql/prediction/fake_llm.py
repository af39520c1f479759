"""A stand-in for an OpenAI-compatible chat-completions endpoint, for tests and benchmarks.

Prediction requests: it reads the race card out of the last user message and answers
with three starters in the configured answer mode, after the configured latency. A line
`rank by: FIELD` in the prompt text chooses the order: `gate` (the default), `age`,
`rating`, `carried_weight`, `body_weight` or `recent_form`, lowest first; `-FIELD` puts
the highest first. Missing values go last, ties go to the lower gate.

Rewrite requests (from improvePrompt, recognised by their request object): it answers
with the prompt whose `rank by:` line names the entry of the rewrite orders that follows
the current one (the first entry when the current one is not listed), in the configured
rewrite mode. So the answers depend only on the request: re-runs repeat themselves.

    python -m kra_graphql.prediction.fake_llm --port 8400 --latency-ms 200

`POST /_admin/config` (`{"mode": ..., "latency_ms": ..., "hang_ms": ..., "rewrite": ...,
"rewrite_orders": [...]}`) changes the behaviour of a running server, `GET /_admin/stats`
counts requests (and rewrite requests among them), `POST /_admin/reset` restores the
start-up behaviour and zeroes the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kra_graphql.prediction.answers import json_objects
from kra_graphql.prediction.predictors import CARD_PLACEHOLDER
from kra_graphql.prediction.rewrite import REQUEST_KEY


class AnswerMode(StrEnum):
    VALID = "valid"  # the bare JSON answer
    FENCED = "fenced"  # inside a ```json block with prose around it
    EMBEDDED = "embedded"  # inline in a sentence
    MALFORMED = "malformed"  # broken JSON
    WRONG_GATES = "wrong_gates"  # well-formed, but names gates that are not running
    TIMEOUT = "timeout"  # answers only after hang_s
    ERROR = "error"  # HTTP 503


class RewriteMode(StrEnum):
    VALID = "valid"  # {"prompt": ..., "rationale": ...}
    FENCED = "fenced"  # that object inside a ```json block with prose around it
    MALFORMED = "malformed"  # broken JSON
    NO_PLACEHOLDER = "no_placeholder"  # a prompt without the {race_card} placeholder
    EMPTY = "empty"  # a blank prompt
    ERROR = "error"  # HTTP 503


@dataclass(frozen=True, slots=True)
class Behaviour:
    mode: AnswerMode = AnswerMode.VALID
    latency_s: float = 0.0
    hang_s: float = 30.0
    rewrite: RewriteMode = RewriteMode.VALID
    rewrite_orders: tuple[str, ...] = ("age",)


RANK_FIELDS = ("gate", "age", "rating", "carried_weight", "body_weight", "recent_form")
_RANK = re.compile(r"^[ \t]*rank by:[ \t]*(-?[a-z_]+)[ \t]*$", re.IGNORECASE | re.MULTILINE)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    text = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return text if isinstance(text, str) else ""


def rank_order(text: str) -> str:
    """The order the prompt text asks for; `gate` when it names none or an unknown field."""
    found = _RANK.search(text)
    order = found.group(1).lower() if found else "gate"
    return order if order.lstrip("-") in RANK_FIELDS else "gate"


def card_runners(text: str) -> list[dict[str, Any]]:
    """The runners of the card embedded in the text."""
    for candidate in json_objects(text):
        runners = candidate.get("runners")
        if isinstance(runners, list):
            return [r for r in runners if isinstance(r, dict) and isinstance(r.get("gate"), int)]
    return []


def ranked_gates(runners: list[dict[str, Any]], order: str) -> list[int]:
    """Gates of the starters in the given order."""
    field = order.lstrip("-")
    highest_first = order.startswith("-")

    def value(runner: dict[str, Any]) -> float | None:
        if field == "recent_form":
            form = runner.get("form")
            raw = form.get("recent_form") if isinstance(form, dict) else None
        else:
            raw = runner.get(field)
        return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None

    def key(runner: dict[str, Any]) -> tuple[int, float, int]:
        known = value(runner)
        if known is None:
            return (1, 0.0, runner["gate"])
        return (0, -known if highest_first else known, runner["gate"])

    return [r["gate"] for r in sorted(runners, key=key) if not r.get("scratched")]


def answer_text(mode: AnswerMode, gates: list[int], order: str = "gate") -> str:
    reasoning = "lowest gates first" if order == "gate" else f"ranked by {order}"
    answer = json.dumps(
        {"picks": gates[:3], "confidence": 42, "reasoning": reasoning}, ensure_ascii=False
    )
    if mode is AnswerMode.FENCED:
        return f"Here is my analysis.\n\n```json\n{answer}\n```\nGood luck!"
    if mode is AnswerMode.EMBEDDED:
        return f"After weighing the card my answer is {answer} and that is final."
    if mode is AnswerMode.MALFORMED:
        return '{"picks": [1, 2, , "confidence": 42'
    if mode is AnswerMode.WRONG_GATES:
        return json.dumps({"picks": [97, 98, 99], "confidence": 42, "reasoning": "?"})
    return answer


def rewrite_request(messages: list[dict[str, Any]]) -> str | None:
    """The prompt text to rewrite, when the last user message is a rewrite request."""
    for candidate in json_objects(_last_user_text(messages)):
        text = candidate.get(REQUEST_KEY)
        if isinstance(text, str):
            return text
    return None


def rewritten(text: str, orders: Sequence[str]) -> str:
    current = rank_order(text)
    position = orders.index(current) + 1 if current in orders else 0
    line = f"rank by: {orders[position % len(orders)]}"
    if _RANK.search(text):
        return _RANK.sub(line, text, count=1)
    return f"{line}\n{text}"


def rewrite_text(mode: RewriteMode, text: str, orders: Sequence[str]) -> str:
    prompt = rewritten(text, orders)
    if mode is RewriteMode.NO_PLACEHOLDER:
        prompt = prompt.replace(CARD_PLACEHOLDER, "the race card")
    elif mode is RewriteMode.EMPTY:
        prompt = " "
    answer = json.dumps(
        {"prompt": prompt, "rationale": f"try {rank_order(prompt)} order"}, ensure_ascii=False
    )
    if mode is RewriteMode.FENCED:
        return f"Here is the new prompt.\n\n```json\n{answer}\n```\nHope it helps."
    if mode is RewriteMode.MALFORMED:
        return '{"prompt": "rank by: age", "rationale": '
    return answer


class FakeLlm:
    def __init__(self, behaviour: Behaviour) -> None:
        self.initial = behaviour
        self.behaviour = behaviour
        self.requests = 0
        self.rewrites = 0
        self._ids = itertools.count(1)

    async def completions(self, request: Request) -> Response:
        self.requests += 1
        behaviour = self.behaviour
        body = await request.json()
        messages = body.get("messages", [])
        if behaviour.latency_s:
            await asyncio.sleep(behaviour.latency_s)
        current = rewrite_request(messages)
        if current is not None:
            self.rewrites += 1
            if behaviour.rewrite is RewriteMode.ERROR:
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
            content = rewrite_text(behaviour.rewrite, current, behaviour.rewrite_orders)
            return self._completion(body, content)
        if behaviour.mode is AnswerMode.ERROR:
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if behaviour.mode is AnswerMode.TIMEOUT:
            await asyncio.sleep(behaviour.hang_s)
        text = _last_user_text(messages)
        order = rank_order(text)
        content = answer_text(behaviour.mode, ranked_gates(card_runners(text), order), order)
        return self._completion(body, content)

    def _completion(self, body: dict[str, Any], content: str) -> Response:
        return JSONResponse(
            {
                "id": f"chatcmpl-fake-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
        )

    async def configure(self, request: Request) -> Response:
        change = await request.json()
        behaviour = self.behaviour
        if "mode" in change:
            behaviour = replace(behaviour, mode=AnswerMode(change["mode"]))
        if "latency_ms" in change:
            behaviour = replace(behaviour, latency_s=float(change["latency_ms"]) / 1000)
        if "hang_ms" in change:
            behaviour = replace(behaviour, hang_s=float(change["hang_ms"]) / 1000)
        if "rewrite" in change:
            behaviour = replace(behaviour, rewrite=RewriteMode(change["rewrite"]))
        if "rewrite_orders" in change:
            orders = tuple(str(order) for order in change["rewrite_orders"])
            if not orders or any(order.lstrip("-") not in RANK_FIELDS for order in orders):
                return JSONResponse({"error": f"orders of {RANK_FIELDS}"}, status_code=400)
            behaviour = replace(behaviour, rewrite_orders=orders)
        self.behaviour = behaviour
        return JSONResponse(
            {
                "mode": behaviour.mode.value,
                "latency_s": behaviour.latency_s,
                "rewrite": behaviour.rewrite.value,
                "rewrite_orders": list(behaviour.rewrite_orders),
            }
        )

    async def stats(self, request: Request) -> Response:
        return JSONResponse(
            {
                "requests": self.requests,
                "rewrites": self.rewrites,
                "mode": self.behaviour.mode.value,
            }
        )

    async def reset(self, request: Request) -> Response:
        self.behaviour = self.initial
        self.requests = 0
        self.rewrites = 0
        return JSONResponse({"ok": True})


def create_app(behaviour: Behaviour | None = None) -> Starlette:
    fake = FakeLlm(behaviour or Behaviour())
    app = Starlette(
        routes=[
            Route("/chat/completions", fake.completions, methods=["POST"]),
            Route("/v1/chat/completions", fake.completions, methods=["POST"]),
            Route("/_admin/config", fake.configure, methods=["POST"]),
            Route("/_admin/stats", fake.stats, methods=["GET"]),
            Route("/_admin/reset", fake.reset, methods=["POST"]),
        ]
    )
    app.state.fake = fake
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible chat completions")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--mode", choices=[m.value for m in AnswerMode], default="valid")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rewrite", choices=[m.value for m in RewriteMode], default="valid")
    args = parser.parse_args(argv)
    behaviour = Behaviour(
        mode=AnswerMode(args.mode),
        latency_s=args.latency_ms / 1000,
        rewrite=RewriteMode(args.rewrite),
    )
    uvicorn.run(create_app(behaviour), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
