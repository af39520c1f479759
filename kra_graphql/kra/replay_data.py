"""The recorded KRA answers behind the replay server, indexed for lookup.

Reads a directory in the fixture layout (`API214_1/<date>/<meet>/<no>.json`,
`API214_1-prerace/...`, `API8_2/<hr_no>.json`, `API12_1/<jk_no>.json`,
`API19_1/<tr_no>.json`) once, at construction, so no request touches the disk.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kra_graphql.kra import values as v
from kra_graphql.kra.parsing import HORSE_NO_WIDTH, PERSON_NO_WIDTH, Item, envelope_items
from kra_graphql.kra.records import NOT_STARTED_CODES

# (YYYYMMDD, meet, race number)
RaceKey = tuple[str, int, int]

# Sectional times and positions: buG1fAccTime, bu_10_8fTime, se_1cAccTime, jeG3fTime,
# sjS1fOrd, ... but not budam, buga1 or sex.
_SECTIONAL = re.compile(r"^(bu|se|je|sj)(_|[A-Z])")
_PLAN_FIELDS = (
    "ageCond",
    "budam",
    "buga1",
    "buga2",
    "buga3",
    "chaksun1",
    "chaksun2",
    "chaksun3",
    "chaksun4",
    "chaksun5",
    "ilsu",
    "prizeCond",
    "rcDist",
    "rcName",
)


@dataclass(slots=True)
class RaceFiles:
    result: list[Item] | None = None
    prerace: list[Item] | None = None

    def any_items(self) -> list[Item]:
        return self.result or self.prerace or []


def prerace_view(items: Iterable[Item]) -> list[Item]:
    """Post-race items as the API shows them before the result is released.

    As in the recorded pre-race snapshot: finishing position, time, odds, margin and
    sectionals are zero or "-", the track reads " (0%)" and there is no weather. Items
    are put in gate order so that their order does not give the result away.
    """
    view: list[Item] = []
    for item in items:
        copy: Item = {}
        for key, value in item.items():
            if key == "weather":
                continue
            if key in ("ord", "rcTime", "winOdds", "plcOdds") or _SECTIONAL.match(key):
                copy[key] = 0
            elif key in ("diffUnit", "ordBigo"):
                copy[key] = "-"
            elif key == "track":
                copy[key] = " (0%)"
            else:
                copy[key] = value
        view.append(copy)
    return sorted(view, key=lambda item: v.integer(item.get("chulNo")) or 0)


class FixtureStore:
    """Every recorded answer under one fixture directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.races: dict[RaceKey, RaceFiles] = {}
        for phase in ("API214_1", "API214_1-prerace"):
            for path in sorted(root.glob(f"{phase}/*/*/*.json")):
                key = (path.parent.parent.name, int(path.parent.name), int(path.stem))
                files = self.races.setdefault(key, RaceFiles())
                items = _load_items(path)
                if phase == "API214_1":
                    files.result = items
                else:
                    files.prerace = items
        self.horses = _load_details(root / "API8_2", "hrNo", HORSE_NO_WIDTH)
        self.jockeys = _load_details(root / "API12_1", "jkNo", PERSON_NO_WIDTH)
        self.trainers = _load_details(root / "API19_1", "trNo", PERSON_NO_WIDTH)

    def race_keys(self) -> list[RaceKey]:
        return sorted(self.races)

    def race_items(self, key: RaceKey, *, released: bool) -> list[Item]:
        files = self.races[key]
        if released and files.result is not None:
            return files.result
        if files.prerace is not None:
            return files.prerace
        return prerace_view(files.result or [])

    def plan_item(self, key: RaceKey) -> Item:
        """A racePlan_2 item built from the race's own items (no start time is recorded)."""
        items = self.races[key].any_items()
        first = items[0] if items else {}
        plan: Item = {name: first[name] for name in _PLAN_FIELDS if name in first}
        plan["meet"] = first.get("meet", v.MEET_LABELS.get(key[1]))
        plan["rank"] = _most_common(item.get("rank") for item in items)
        plan["rcDate"] = int(key[0])
        plan["rcNo"] = key[2]
        return dict(sorted(plan.items()))

    def scratching_items(self, key: RaceKey) -> list[Item]:
        """raceHorseCancelInfo_1 items: the runners coded as not started (93-95, no odds)."""
        found: list[Item] = []
        for item in self.races[key].result or []:
            code = v.integer(item.get("ord"))
            if code in NOT_STARTED_CODES and not v.positive_number(item.get("winOdds")):
                found.append(
                    {
                        "chulNo": item.get("chulNo"),
                        "hrName": item.get("hrName"),
                        "hrNo": item.get("hrNo"),
                        "meet": item.get("meet"),
                        "rcDate": item.get("rcDate"),
                        "rcNo": item.get("rcNo"),
                    }
                )
        return sorted(found, key=lambda item: v.integer(item.get("chulNo")) or 0)


def _load_items(path: Path) -> list[Item]:
    payload: Any = json.loads(path.read_text(encoding="utf-8"))
    return envelope_items(payload)


def _load_details(folder: Path, id_field: str, width: int) -> dict[str, Item]:
    found: dict[str, Item] = {}
    for path in sorted(folder.glob("*.json")):
        for item in _load_items(path):
            ident = v.identifier(item.get(id_field), width) or path.stem
            found[ident] = item
    return found


def _most_common(values: Iterable[object]) -> object:
    counts = Counter(value for value in values if value not in (None, ""))
    return counts.most_common(1)[0][0] if counts else None
