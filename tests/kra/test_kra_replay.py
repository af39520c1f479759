"""The replay server speaks the API's envelope, quirks and errors over real HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from kra_graphql.kra import endpoints

from .conftest import FIXTURES, ReplayServer, load_items, running_replay


async def get(server: ReplayServer, endpoint: str, **params: object) -> httpx.Response:
    query = {"_type": "json", **{k: str(v) for k, v in params.items()}}
    return await server.http.get(f"{server.base_url}/{endpoint}", params=query)


async def body(server: ReplayServer, endpoint: str, **params: object) -> dict[str, Any]:
    response = await get(server, endpoint, **params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    data: dict[str, Any] = response.json()["response"]
    assert list(data) == ["header", "body"]
    return data


async def test_pages_and_the_lone_item_object(replay: ReplayServer) -> None:
    items = load_items("API214_1", "20250503", 1, 1)
    size = len(items) - 1
    first = await body(
        replay, endpoints.RACE_DETAIL, meet=1, rc_date=20250503, rc_no=1, numOfRows=size, pageNo=1
    )
    assert first["header"] == {"resultCode": "00", "resultMsg": "NORMAL SERVICE."}
    assert (first["body"]["numOfRows"], first["body"]["pageNo"]) == (size, 1)
    assert first["body"]["totalCount"] == len(items)
    assert first["body"]["items"]["item"] == items[:size]
    last = await body(
        replay, endpoints.RACE_DETAIL, meet=1, rc_date=20250503, rc_no=1, numOfRows=size, pageNo=2
    )
    assert last["body"]["items"]["item"] == items[-1]
    past = await body(
        replay, endpoints.RACE_DETAIL, meet=1, rc_date=20250503, rc_no=1, numOfRows=size, pageNo=3
    )
    assert past["header"]["resultCode"] == "00"
    assert past["body"]["items"] == ""


async def test_unknown_ids_and_dates_answer_no_data(replay: ReplayServer) -> None:
    for endpoint, params in (
        (endpoints.RACE_DETAIL, {"meet": 1, "rc_date": 20250505}),
        (endpoints.RACE_PLAN, {"meet": 3, "rc_date": 20250503}),
        (endpoints.HORSE, {"hr_no": "0000001"}),
        (endpoints.JOCKEY, {"jk_no": "000001"}),
        (endpoints.TRAINER, {"tr_no": "000001"}),
        (endpoints.SCRATCHINGS, {"meet": 1, "rc_date": 20250503, "rc_no": 1}),
    ):
        data = await body(replay, endpoint, **params)
        assert data["header"]["resultCode"] == "03", endpoint
        assert data["body"]["totalCount"] == 0
        assert data["body"]["items"] == ""


async def test_bad_parameters_answer_code_10(replay: ReplayServer) -> None:
    data = await body(replay, endpoints.RACE_DETAIL, meet=1, rc_date="2025-5-3")
    assert data["header"]["resultCode"] == "10"
    data = await body(replay, endpoints.HORSE, numOfRows="many")
    assert data["header"]["resultCode"] == "10"


async def test_detail_lists_without_an_id(replay: ReplayServer) -> None:
    data = await body(replay, endpoints.TRAINER, numOfRows=100)
    assert data["body"]["totalCount"] == len(list((FIXTURES / "API19_1").glob("*.json")))
    found = await body(replay, endpoints.HORSE, hr_no=1411850)
    assert found["body"]["items"]["item"]["hrNo"] == 1411850
    by_name = await body(replay, endpoints.JOCKEY, jk_name="김용근")
    assert by_name["body"]["items"]["item"]["jkNo"] == "080405"


async def test_the_plan_is_built_from_the_race_files(replay: ReplayServer) -> None:
    data = await body(replay, endpoints.RACE_PLAN, meet=3, rc_date=20250504, numOfRows=50)
    plan = data["body"]["items"]["item"]
    numbers = sorted(int(p.stem) for p in (FIXTURES / "API214_1" / "20250504" / "3").glob("*.json"))
    assert [entry["rcNo"] for entry in plan] == numbers
    for entry in plan:
        first = load_items("API214_1", "20250504", 3, entry["rcNo"])[0]
        assert (entry["meet"], entry["rcDate"], entry["rcDist"]) == (
            "부경",
            20250504,
            first["rcDist"],
        )
        assert list(entry) == sorted(entry)
    month = await body(replay, endpoints.RACE_PLAN, meet=2, rc_month=202501, numOfRows=500)
    assert month["body"]["totalCount"] == len(
        list((FIXTURES / "API214_1").glob("202501*/2/*.json"))
    )


async def test_prerace_view_of_a_recorded_result(http: httpx.AsyncClient) -> None:
    async with running_replay(http, hold_results=True) as server:
        data = await body(
            server, endpoints.RACE_DETAIL, meet=3, rc_date=20250523, rc_no=1, numOfRows=50
        )
    items = data["body"]["items"]["item"]
    recorded = load_items("API214_1", "20250523", 3, 1)
    assert [i["chulNo"] for i in items] == sorted(i["chulNo"] for i in recorded)
    sectional = re.compile(r"^(bu|se|je|sj)(_|[A-Z])")
    by_gate = {i["chulNo"]: i for i in recorded}
    for item in items:
        original = by_gate[item["chulNo"]]
        assert (item["ord"], item["rcTime"], item["winOdds"], item["plcOdds"]) == (0, 0, 0, 0)
        assert item["track"] == " (0%)"
        assert "weather" not in item
        for key, value in item.items():
            if sectional.match(key):
                assert value == 0, key
            elif key not in ("ord", "rcTime", "winOdds", "plcOdds", "track", "diffUnit", "ordBigo"):
                assert value == original[key], key
        if "diffUnit" in original:
            assert item["diffUnit"] == "-"
            assert item["ordBigo"] == "-"
            assert item["budam"] == original["budam"]
            assert item["buga1"] == original["buga1"]


async def test_a_wrong_key_gets_the_gateway_answer(http: httpx.AsyncClient) -> None:
    async with running_replay(http, require_key="secret") as server:
        response = await get(server, endpoints.HORSE, serviceKey="nope", hr_no="0051228")
        assert response.status_code == 200
        assert "<returnReasonCode>30</returnReasonCode>" in response.text
        assert "SERVICE_KEY_IS_NOT_REGISTERED_ERROR" in response.text
        ok = await get(server, endpoints.HORSE, ServiceKey="secret", hr_no="0051228")
        assert ok.json()["response"]["header"]["resultCode"] == "00"


async def test_the_rate_limit_answers_429(http: httpx.AsyncClient) -> None:
    async with running_replay(http, rate_limit_per_min=2) as server:
        statuses = [(await get(server, endpoints.HORSE, hr_no="0051228")) for _ in range(3)]
        stats = await server.stats()
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert 1 <= int(statuses[2].headers["Retry-After"]) <= 60
    assert stats["outcomes"] == {"ok": 2, "rate_limited": 1}
    assert stats["calls_last_minute"] == 3
    assert stats["rate_limit_per_min"] == 2


async def test_the_b551015_prefix_is_served(replay: ReplayServer) -> None:
    response = await replay.http.get(
        f"{replay.base_url}/B551015/{endpoints.JOCKEY}", params={"jk_no": "080405"}
    )
    assert response.json()["response"]["body"]["items"]["item"]["jkName"] == "김용근"


async def test_admin_endpoints_validate_their_input(replay: ReplayServer) -> None:
    bad_date = await replay.http.post(f"{replay.base_url}/_admin/release", json={"date": "May"})
    assert bad_date.status_code == 400
    bad_fault = await replay.http.post(f"{replay.base_url}/_admin/faults", json={"kind": "fire"})
    assert bad_fault.status_code == 400
    await replay.fault("garbage", count=2)
    assert (await replay.stats())["queued_faults"] == 2
    assert await replay.admin("DELETE", "faults") == {"dropped": 2}
    everything = await replay.admin("POST", "hold", None)
    assert len(everything["races"]) == (await replay.stats())["races"]
    assert (await replay.stats())["released"] == 0
    await replay.admin("POST", "reset")
    assert (await replay.stats())["released"] == (await replay.stats())["races"]


@pytest.mark.parametrize("endpoint", endpoints.ALL)
async def test_faults_can_target_one_endpoint(replay: ReplayServer, endpoint: str) -> None:
    await replay.fault("http_503", endpoint=endpoint)
    other = endpoints.HORSE if endpoint != endpoints.HORSE else endpoints.JOCKEY
    assert (await get(replay, other)).status_code == 200
    assert (await get(replay, endpoint)).status_code == 503
    assert (await get(replay, endpoint)).status_code == 200
