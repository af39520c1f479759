"""KraClient against the replay server: what comes back matches the recorded files."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from kra_graphql.config import Settings
from kra_graphql.kra import endpoints
from kra_graphql.kra.factory import create_http_client, create_kra_client

from .conftest import FIXTURES, Calls, ClientFactory, ReplayServer, load_items, running_replay

# One full race day for each meet.
DAYS = [("20250503", 1), ("20250503", 2), ("20250504", 3)]


def race_numbers_on_file(rc_date: str, meet: int) -> list[int]:
    return sorted(int(p.stem) for p in (FIXTURES / "API214_1" / rc_date / str(meet)).glob("*.json"))


def plain_name(name: str) -> str:
    return re.sub(r"^\[[^\]]+\]", "", name)


@pytest.mark.parametrize(("rc_date", "meet"), DAYS)
async def test_a_full_day_matches_the_files(
    replay: ReplayServer, make_client: ClientFactory, rc_date: str, meet: int
) -> None:
    client = make_client(replay)
    numbers = await client.race_numbers(rc_date, meet)
    assert numbers == race_numbers_on_file(rc_date, meet)
    for number in numbers:
        race = await client.race(rc_date, meet, number)
        items = load_items("API214_1", rc_date, meet, number)
        assert race is not None
        assert (race.meet, race.race_number, race.race_date.strftime("%Y%m%d")) == (
            meet,
            number,
            rc_date,
        )
        assert len(race.runners) == len(items)
        assert [r.gate_number for r in race.runners] == sorted(i["chulNo"] for i in items)
        names = {i["chulNo"]: plain_name(i["hrName"]) for i in items}
        assert {r.gate_number: r.horse_name for r in race.runners} == names
        expected_order = sorted((i["ord"], i["chulNo"]) for i in items if 0 < i["ord"] < 90)
        actual_order = sorted(
            (r.finish_position, r.gate_number) for r in race.runners if r.finish_position
        )
        assert actual_order == expected_order


@pytest.mark.parametrize(("rc_date", "meet"), DAYS)
async def test_one_query_for_a_whole_day(
    replay: ReplayServer, make_client: ClientFactory, rc_date: str, meet: int
) -> None:
    client = make_client(replay)
    races = await client.races(rc_date, meet)
    assert [r.race_number for r in races] == race_numbers_on_file(rc_date, meet)
    assert races[0] == await client.race(rc_date, meet, races[0].race_number)
    total = sum(
        len(load_items("API214_1", rc_date, meet, n)) for n in race_numbers_on_file(rc_date, meet)
    )
    assert sum(len(r.runners) for r in races) == total
    stats = await replay.stats()
    # 50 items a page: the day takes as many pages as its runners need, plus the one race.
    assert stats["calls"][endpoints.RACE_DETAIL] == -(-total // 50) + 1


async def test_pages_are_followed_to_the_total_count(
    replay: ReplayServer, make_client: ClientFactory, calls: Calls
) -> None:
    items = load_items("API214_1", "20250503", 1, 1)
    # The last page then holds a single item, which the API prints as an object.
    client = make_client(replay, page_size=len(items) - 1)
    race = await client.race("20250503", 1, 1)
    assert race is not None
    assert len(race.runners) == len(items)
    assert calls.outcomes == ["ok", "ok"]
    assert race == await make_client(replay).race("2025-05-03", 1, 1)


async def test_race_numbers_from_the_plan(replay: ReplayServer, make_client: ClientFactory) -> None:
    numbers = await make_client(replay).race_numbers("20250504", 3)
    assert numbers == race_numbers_on_file("20250504", 3)
    stats = await replay.stats()
    assert stats["calls"] == {endpoints.RACE_PLAN: 1}


@pytest.mark.parametrize("plan_code", ["03", "20"])
async def test_race_numbers_probe_when_the_plan_has_nothing(
    replay: ReplayServer, make_client: ClientFactory, plan_code: str
) -> None:
    await replay.fault("result_code", code=plan_code, endpoint=endpoints.RACE_PLAN)
    numbers = await make_client(replay).race_numbers("20250504", 1)
    expected = race_numbers_on_file("20250504", 1)
    assert numbers == expected
    stats = await replay.stats()
    # Every race, then the first number without data.
    assert stats["calls"][endpoints.RACE_DETAIL] == len(expected) + 1


async def test_a_day_without_races(replay: ReplayServer, make_client: ClientFactory) -> None:
    client = make_client(replay)
    assert await client.race_numbers("20250505", 1) == []
    assert await client.race("20250505", 1, 1) is None
    assert await client.races("20250505", 1) == []
    assert await client.scratchings("20250505", 1) == []
    # The probe for race 1, the race itself, the whole day.
    assert (await replay.stats())["calls"][endpoints.RACE_DETAIL] == 3


async def test_details_of_everyone_in_a_race(
    replay: ReplayServer, make_client: ClientFactory
) -> None:
    client = make_client(replay)
    race = await client.race("20250503", 1, 1)
    assert race is not None
    found = 0
    for runner in race.runners:
        assert runner.jockey_no
        assert runner.trainer_no
        horse = await client.horse(runner.horse_no)
        jockey = await client.jockey(runner.jockey_no)
        trainer = await client.trainer(runner.trainer_no)
        on_file = (FIXTURES / "API8_2" / f"{runner.horse_no}.json").exists()
        assert (horse is not None) == on_file
        if horse is not None:
            found += 1
            assert horse.horse_no == runner.horse_no
            assert horse.name == runner.horse_name
        assert (jockey is not None) == (FIXTURES / "API12_1" / f"{runner.jockey_no}.json").exists()
        assert (trainer is not None) == (
            FIXTURES / "API19_1" / f"{runner.trainer_no}.json"
        ).exists()
        if trainer is not None:
            assert (trainer.trainer_no, trainer.name) == (runner.trainer_no, runner.trainer_name)
    assert found > 0
    assert await client.horse("9999999") is None
    unpadded = await client.horse("51228")
    assert unpadded is not None
    assert unpadded.horse_no == "0051228"


async def test_scratchings_of_a_day(replay: ReplayServer, make_client: ClientFactory) -> None:
    expected: list[tuple[int, int]] = []
    for number in race_numbers_on_file("20250517", 1):
        for item in load_items("API214_1", "20250517", 1, number):
            if item["ord"] in (93, 94, 95) and not item["winOdds"]:
                expected.append((number, item["chulNo"]))
    scratchings = await make_client(replay).scratchings("2025-05-17", 1)
    assert [(s.race_number, s.gate_number) for s in scratchings] == sorted(expected)
    assert {s.horse_no for s in scratchings if s.race_number == 2} == {"0054468", "0050957"}


async def test_prerace_view_until_the_result_is_released(
    http: httpx.AsyncClient, make_client: ClientFactory
) -> None:
    async with running_replay(http, hold_results=True) as server:
        client = make_client(server)
        assert await client.race_numbers("20250503", 1) == race_numbers_on_file("20250503", 1)
        before = await client.race("20250503", 1, 2)
        assert before is not None
        assert not before.has_results
        assert before.track_condition is None
        assert before.weather is None
        for runner in before.runners:
            assert runner.finish_position is None
            assert runner.finish_code is None
            assert runner.win_odds is None
            assert runner.finish_time is None

        released: dict[str, Any] = await server.admin(
            "POST", "release", {"date": "2025-05-03", "meet": 1, "race_number": 2}
        )
        assert released["races"] == ["20250503/1/2"]
        after = await client.race("20250503", 1, 2)
        assert after is not None
        assert after.has_results
        assert [r.gate_number for r in after.runners] == [r.gate_number for r in before.runners]
        assert [r.horse_no for r in after.runners] == [r.horse_no for r in before.runners]
        still_held = await client.race("20250503", 1, 3)
        assert still_held is not None
        assert not still_held.has_results

        await server.admin("POST", "release", {"date": "20250503"})
        assert (await server.stats())["released"] == len(race_numbers_on_file("20250503", 1)) + len(
            race_numbers_on_file("20250503", 2)
        )
        await server.admin("POST", "hold", {"meet": 1, "race_number": 2})
        held = await client.race("20250503", 1, 2)
        assert held is not None
        assert not held.has_results


async def test_a_race_recorded_only_before_the_start(
    replay: ReplayServer, make_client: ClientFactory
) -> None:
    race = await make_client(replay).race("20250608", 1, 5)
    items = load_items("API214_1-prerace", "20250608", 1, 5)
    assert race is not None
    assert not race.has_results
    assert len(race.runners) == len(items)


async def test_the_factory_builds_a_working_client(replay: ReplayServer) -> None:
    settings = Settings(kra_api_base_url=replay.base_url, kra_rate_limit_per_min=0)
    http = create_http_client(settings)
    try:
        client = create_kra_client(settings, None, http)
        race = await client.race("20250503", 1, 1)
        assert race is not None
    finally:
        await http.aclose()
