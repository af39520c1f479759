"""The bundled sample the dev server replays, and the replay server as a process."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

import httpx

from kra_graphql.kra import endpoints
from kra_graphql.kra.client import KraClient
from kra_graphql.kra.sample import sample_fixtures_dir

from .conftest import FIXTURES

SAMPLE_DAYS = ("20250503", "20250504")


def ids_in(folder: Path) -> list[str]:
    return sorted(path.stem for path in folder.glob("*.json"))


def referenced(root: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"API8_2": set(), "API12_1": set(), "API19_1": set()}
    for path in root.glob("API214_1*/*/*/*.json"):
        item: Any = json.loads(path.read_text(encoding="utf-8"))["response"]["body"]["items"][
            "item"
        ]
        for runner in item if isinstance(item, list) else [item]:
            found["API8_2"].add(str(runner["hrNo"]).zfill(7))
            found["API12_1"].add(str(runner["jkNo"]).zfill(6))
            found["API19_1"].add(str(runner["trNo"]).zfill(6))
    return found


def test_the_sample_holds_two_race_days_and_their_details() -> None:
    sample = sample_fixtures_dir()
    manifest = json.loads((sample / "manifest.json").read_text(encoding="utf-8"))
    on_disk = sorted(
        (p.parts[-4], p.parts[-3], int(p.parts[-2]), int(p.stem))
        for p in sample.glob("API214_1*/*/*/*.json")
    )
    listed = sorted(
        (
            "API214_1" if race["phase"] == "result" else "API214_1-prerace",
            race["rc_date"],
            race["meet"],
            race["rc_no"],
        )
        for race in manifest["races"]
    )
    assert on_disk == listed
    full = sorted(
        ("API214_1", p.parts[-3], int(p.parts[-2]), int(p.stem))
        for day in SAMPLE_DAYS
        for p in FIXTURES.glob(f"API214_1/{day}/*/*.json")
    )
    assert [race for race in on_disk if race[0] == "API214_1"] == full
    assert {meet for _, _, meet, _ in full} == {1, 2, 3}
    assert any(phase == "API214_1-prerace" for phase, *_ in on_disk)

    needed = referenced(sample)
    for folder, key in (("API8_2", "horses"), ("API12_1", "jockeys"), ("API19_1", "trainers")):
        present = ids_in(sample / folder)
        assert present == sorted(manifest[key])
        available = set(ids_in(FIXTURES / folder))
        assert set(present) == needed[folder] & available
        for ident in present:
            assert (sample / folder / f"{ident}.json").read_bytes() == (
                FIXTURES / folder / f"{ident}.json"
            ).read_bytes()


async def test_serve_replay_runs_the_sample_as_a_process() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "from kra_graphql.kra.replay import serve_replay\n"
        "from kra_graphql.kra.sample import sample_fixtures_dir\n"
        f"serve_replay(sample_fixtures_dir(), port={port}, hold_results=True)\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    await http.get(f"{base_url}/_admin/stats")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            client = KraClient(base_url=base_url, api_key=None, http=http, timeout_s=5)
            numbers = await client.race_numbers("20250504", 3)
            assert numbers == sorted(
                int(p.stem) for p in (sample_fixtures_dir() / "API214_1/20250504/3").glob("*.json")
            )
            race = await client.race("20250504", 3, numbers[0])
            assert race is not None
            assert not race.has_results
            stats = (await http.get(f"{base_url}/_admin/stats")).json()
            assert stats["calls"][endpoints.RACE_PLAN] == 1
            assert stats["released"] == 0
    finally:
        process.terminate()
        await process.wait()
