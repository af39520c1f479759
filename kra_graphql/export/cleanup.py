"""Exports go with their jobs: a folder whose job no longer exists is removed.

Run by the daily retention task right after it deleted old jobs. Sweeping by what
exists, rather than removing the folders of the jobs just deleted, also catches a
folder that a crash between the two left behind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from kra_graphql.export import storage
from kra_graphql.jobs.models import Job
from kra_graphql.runtime import Runtime

BATCH = 500


async def sweep_exports(runtime: Runtime) -> int:
    """Remove export folders without a job; returns how many went."""
    root = Path(runtime.settings.export_dir)
    found = await asyncio.to_thread(storage.job_folders, root)
    orphans: list[str] = []
    for start in range(0, len(found), BATCH):
        batch = found[start : start + BATCH]
        async with runtime.sessions() as session:
            known = set(
                (await session.scalars(select(col(Job.id)).where(col(Job.id).in_(batch)))).all()
            )
        orphans += [job_id for job_id in batch if job_id not in known]
    removed = await asyncio.to_thread(storage.remove_folders, root, orphans)
    await asyncio.to_thread(storage.remove_stale_temps, root)
    return removed
