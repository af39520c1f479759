"""The browser job board at `/jobs`: static files only, talking to `/graphql` like any client."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"

# The page holds an API key in memory: only its own scripts run, it talks only to this
# origin, and its form can post nowhere, so the key never ends up in a URL.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


async def job_board(_request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=HEADERS)


def routes() -> list[BaseRoute]:
    return [
        Route("/jobs", job_board, methods=["GET"]),
        Mount("/jobs/static", StaticFiles(directory=STATIC), name="jobboard-static"),
    ]
