"""GraphiQL served from files in this package, so the page works without internet access.

Strawberry's own page loads React, GraphiQL and the explorer from a public CDN; this one
loads the same libraries from `/graphiql-assets/` (rebuilt by `make graphiql-assets`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"
ASSETS_PATH = "/graphiql-assets"

# The page only talks to this origin, so nothing it loads or sends can leave the machine.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@cache
def page_html() -> str:
    return (HERE / "page.html").read_text(encoding="utf-8")


def page() -> HTMLResponse:
    return HTMLResponse(page_html(), headers=HEADERS)


def routes() -> list[BaseRoute]:
    return [Mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="graphiql-assets")]
