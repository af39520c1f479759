"""A stand-in for an OpenAI-compatible chat-completions endpoint, for tests and benchmarks.

It reads the race card out of the last user message and answers with the first three
starters by gate, in the configured answer mode and after the configured latency.

    python -m kra_graphql.prediction.fake_llm --port 8400 --latency-ms 200

`POST /_admin/config` (`{"mode": ..., "latency_ms": ...}`) changes the behaviour of a
running server, `GET /_admin/stats` counts requests, `POST /_admin/reset` restores the
start-up behaviour and zeroes the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kra_graphql.prediction.answers import json_objects


class AnswerMode(StrEnum):
    VALID = "valid"  # the bare JSON answer
    FENCED = "fenced"  # inside a ```json block with prose around it
    EMBEDDED = "embedded"  # inline in a sentence
    MALFORMED = "malformed"  # broken JSON
    WRONG_GATES = "wrong_gates"  # well-formed, but names gates that are not running
    TIMEOUT = "timeout"  # answers only after hang_s
    ERROR = "error"  # HTTP 503


@dataclass(frozen=True, slots=True)
class Behaviour:
    mode: AnswerMode = AnswerMode.VALID
    latency_s: float = 0.0
    hang_s: float = 30.0


def starter_gates(messages: list[dict[str, Any]]) -> list[int]:
    """Gates of the non-scratched runners of the card in the last user message."""
    text = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    for candidate in json_objects(text if isinstance(text, str) else ""):
        runners = candidate.get("runners")
        if isinstance(runners, list):
            return sorted(
                r["gate"]
                for r in runners
                if isinstance(r, dict) and isinstance(r.get("gate"), int) and not r.get("scratched")
            )
    return []


def answer_text(mode: AnswerMode, gates: list[int]) -> str:
    picks = gates[:3]
    answer = json.dumps(
        {"picks": picks, "confidence": 42, "reasoning": "lowest gates first"}, ensure_ascii=False
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


class FakeLlm:
    def __init__(self, behaviour: Behaviour) -> None:
        self.initial = behaviour
        self.behaviour = behaviour
        self.requests = 0
        self._ids = itertools.count(1)

    async def completions(self, request: Request) -> Response:
        self.requests += 1
        behaviour = self.behaviour
        body = await request.json()
        if behaviour.latency_s:
            await asyncio.sleep(behaviour.latency_s)
        if behaviour.mode is AnswerMode.ERROR:
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if behaviour.mode is AnswerMode.TIMEOUT:
            await asyncio.sleep(behaviour.hang_s)
        content = answer_text(behaviour.mode, starter_gates(body.get("messages", [])))
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
        self.behaviour = behaviour
        return JSONResponse({"mode": behaviour.mode.value, "latency_s": behaviour.latency_s})

    async def stats(self, request: Request) -> Response:
        return JSONResponse({"requests": self.requests, "mode": self.behaviour.mode.value})

    async def reset(self, request: Request) -> Response:
        self.behaviour = self.initial
        self.requests = 0
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
    args = parser.parse_args(argv)
    behaviour = Behaviour(mode=AnswerMode(args.mode), latency_s=args.latency_ms / 1000)
    uvicorn.run(create_app(behaviour), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
