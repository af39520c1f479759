"""Unexpected errors: masked in production, with an errorId that the server log has too."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from kra_graphql.config import Settings
from kra_graphql.db import create_engine
from kra_graphql.migrate import upgrade_engine
from tests.conftest import RUN_ID, auth_headers, create_database, drop_database, settings_env
from tests.support import Process, free_port, wait_http_ok


async def test_production_masks_unexpected_errors_and_logs_their_id(
    settings: Settings, tmp_path: Path
) -> None:
    name = f"kra_test_{RUN_ID}_mask_{uuid.uuid4().hex[:6]}"
    url = await create_database(name)
    engine = create_engine(Settings(database_url=url))
    await upgrade_engine(engine)
    await engine.dispose()
    env = settings_env(settings.model_copy(update={"database_url": url}))
    env["ENVIRONMENT"] = "production"
    port = free_port()
    server = Process(["serve", "--port", str(port)], env, tmp_path / "api.log")
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", process=server)
        # The database disappears under the running server: an error nobody planned for.
        await drop_database(name)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.post(
                "/graphql",
                json={"query": "{ races(first: 1) { edges { node { id } } } }"},
                headers=auth_headers(),
            )
            ide = await client.get("/graphql", headers={"Accept": "text/html"})
    finally:
        server.stop()
        await drop_database(name)

    error = response.json()["errors"][0]
    error_id = error["extensions"]["errorId"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["message"] == f"Internal server error (errorId {error_id})"
    assert name not in response.text
    assert "Traceback" not in response.text
    assert error_id in server.output()
    assert ide.status_code != 200 or "graphiql" not in ide.text.lower()


async def test_a_value_that_does_not_coerce_in_the_variables_is_bad_user_input(
    api_url: str, api_key: str
) -> None:
    """Not an internal error: the caller sent an enum value that does not exist."""
    async with httpx.AsyncClient(base_url=api_url) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": "query($s: [JobStatus!]) { jobs(filter: {status: $s}) { totalCount } }",
                "variables": {"s": ["BOGUS"]},
            },
            headers={"Authorization": f"Bearer {api_key}"},
        )
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "'BOGUS' does not exist in 'JobStatus'" in errors[0]["message"]
