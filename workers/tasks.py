"""Task functions: each one only unpacks its arguments and calls a service."""

from __future__ import annotations

from typing import Any


async def ping(ctx: dict[str, Any]) -> str:
    """Round trip through the queue; used to prove a worker is consuming jobs."""
    return "pong"


FUNCTIONS: list[Any] = [ping]
