"""The typed client that ariadne-codegen generates from schema.graphql and the example
operations (examples/python; `make codegen-check` writes it), used against the server."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from kra_client import (
    CollectRacesInput,
    JobEventType,
    JobKind,
    JobStatus,
    KraClient,
    RaceFilter,
)

pytestmark = pytest.mark.usefixtures("worker_process")


async def test_the_generated_client_collects_follows_the_job_and_pages_races(
    api_url: str, api_key: str, replay: httpx.AsyncClient
) -> None:
    client = KraClient(
        url=f"{api_url}/graphql",
        headers={"Authorization": f"Bearer {api_key}"},
        ws_url=api_url.replace("http://", "ws://") + "/graphql",
        ws_connection_init_payload={"apiKey": api_key},
    )
    async with client:
        created = await client.collect_races(
            CollectRacesInput(date="20250510", meet=2, race_numbers=[5, 6], enrich=False)
        )
        job = created.collect_races
        assert (job.kind, job.status, job.progress) == (JobKind.COLLECTION, JobStatus.QUEUED, 0)

        events = [event.job_progress async for event in client.job_progress(id=job.id)]

        assert events[0].type_ == JobEventType.SNAPSHOT
        assert all(isinstance(event.at, datetime) for event in events)
        final = events[-1].job
        assert (final.status, final.progress) == (JobStatus.COMPLETED, 100)
        assert final.result is not None
        assert final.result["raceIds"] == ["race_2_20250510_5", "race_2_20250510_6"]
        progress = [event.job.progress for event in events]
        assert progress == sorted(progress)

        # No other test collects this day and meet, so its race count is ours alone.
        day = RaceFilter(date="20250510", meet=2)
        first = await client.races_page(first=1, filter_=day)
        assert first.races.total_count == 2
        assert first.races.page_info.has_next_page
        race = first.races.edges[0].node
        assert (race.id, race.race_number) == ("race_2_20250510_5", 5)
        gates = [entry.gate_number for entry in race.entries]
        assert gates == sorted(gates)
        assert len(gates) >= 3
        assert all(entry.horse_name for entry in race.entries)

        second = await client.races_page(
            first=1, filter_=day, after=first.races.page_info.end_cursor
        )
        assert [edge.node.race_number for edge in second.races.edges] == [6]
        assert not second.races.page_info.has_next_page
