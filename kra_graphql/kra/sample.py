"""The bundled sample of recorded KRA answers that the dev server replays."""

from __future__ import annotations

import json
from datetime import date
from importlib.resources import files
from pathlib import Path


def sample_fixtures_dir() -> Path:
    """The `sample_data/kra` directory shipped inside the package.

    Two race days (2025-05-03 and 2025-05-04, every meet that raced), the horse, jockey
    and trainer details they reference, and one recorded pre-race snapshot, in the
    layout `create_replay_app` reads.
    """
    resource = files("kra_graphql").joinpath("sample_data", "kra")
    path = Path(str(resource))
    if not path.is_dir():
        # A zipped install has no directory to point a server at.
        raise FileNotFoundError(f"sample data not found on disk at {resource}")
    return path


def sample_race_days() -> list[tuple[date, int]]:
    """(day, meet) pairs of the bundled sample, from its manifest."""
    manifest = json.loads((sample_fixtures_dir() / "manifest.json").read_text(encoding="utf-8"))
    days = {
        (
            date(int(race["rc_date"][:4]), int(race["rc_date"][4:6]), int(race["rc_date"][6:])),
            int(race["meet"]),
        )
        for race in manifest["races"]
        if race.get("phase") == "result"
    }
    return sorted(days)
