"""Jobs as a rich table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from kra_graphql.client.follow import STATUS_STYLES, parse_time


def _when(value: object) -> str:
    moment: datetime | None = parse_time(value)
    return f"{moment.astimezone():%m-%d %H:%M:%S}" if moment else ""


def jobs_table(jobs: list[dict[str, Any]], total: int) -> Table:
    table = Table(title=f"{len(jobs)} of {total} jobs, newest first", title_justify="left")
    # Ids are long: let them fold in a narrow terminal rather than squeeze the rest out.
    table.add_column("id", overflow="fold", min_width=12)
    table.add_column("kind", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("progress", justify="right", no_wrap=True)
    table.add_column("step / error", overflow="ellipsis", no_wrap=True, ratio=1, min_width=8)
    table.add_column("created", no_wrap=True, min_width=14)
    for job in jobs:
        steps = f" ({job['completedSteps']}/{job['totalSteps']})" if job.get("totalSteps") else ""
        table.add_row(
            job["id"],
            job["kind"],
            Text(job["status"], style=STATUS_STYLES.get(job["status"], "cyan")),
            f"{job['progress']}%{steps}",
            job.get("error") or job.get("currentStep") or "",
            _when(job.get("createdAt")),
        )
    return table
