"""`GET /exports/<job id>/<file>`: an export's files, to the key that asked for it.

The key that submitted the export, or an `admin` key, gets the file with its length;
anyone else gets 404, as for a job or file that does not exist, so other keys' exports
are not disclosed. Anonymous readers (where ANONYMOUS_READ allows them) only get exports
nobody's key asked for, which the API never makes: exportDataset needs a key, and an
export is its submitter's business like the job itself.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kra_graphql.access.keys import Principal, Scope
from kra_graphql.errors import AppError, RateLimited
from kra_graphql.export import storage
from kra_graphql.graphql.auth import key_from_headers
from kra_graphql.graphql.context import ApiServices
from kra_graphql.jobs.models import Job, JobKind

MEDIA_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}
NOT_FOUND = {"error": "not found"}


def may_download(principal: Principal, requested_by: str | None) -> bool:
    if principal.can(Scope.ADMIN):
        return True
    if not principal.can(Scope.READ):
        return False
    return principal.name == requested_by


async def download(request: Request) -> Response:
    services: ApiServices = request.app.state.services
    job_id = request.path_params["job_id"]
    name = request.path_params["name"]
    try:
        if services.access is None:
            raise RuntimeError("downloads need the API's access control")
        principal = await services.access.identify(key_from_headers(request.headers))
        address = request.client.host if request.client else "unknown"
        await services.access.spend(principal, address, mutation=False)
    except AppError as error:
        return _refusal(error)
    if not storage.JOB_FOLDER.fullmatch(job_id):
        return JSONResponse(NOT_FOUND, status_code=404)
    async with services.runtime.autocommit() as session:
        job = await session.get(Job, job_id)
    if (
        job is None
        or job.kind != JobKind.EXPORT
        or not may_download(principal, job.requested_by)
        or name not in _listed(job)
    ):
        return JSONResponse(NOT_FOUND, status_code=404)
    path = storage.export_file(Path(services.runtime.settings.export_dir), job_id, name)
    if path is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[path.suffix],
        filename=name,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


def _listed(job: Job) -> set[str]:
    """The files the job's last run published; none while it runs again."""
    files = (job.result or {}).get("files") or []
    return {str(file.get("name")) for file in files if isinstance(file, dict)}


def _refusal(error: AppError) -> Response:
    status = {"UNAUTHENTICATED": 401, "RATE_LIMITED": 429}.get(error.code.value, 400)
    headers = {}
    if isinstance(error, RateLimited):
        status = error.http_status
        headers["Retry-After"] = str(error.retry_after_s)
    body = {"errors": [{"message": error.message, "extensions": error.extensions}]}
    return JSONResponse(body, status_code=status, headers=headers)


def routes() -> list[BaseRoute]:
    return [Route("/exports/{job_id}/{name}", download, methods=["GET", "HEAD"])]
