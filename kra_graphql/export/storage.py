"""Where exports live: `EXPORT_DIR/<job id>/`, written aside and published by a rename.

A run writes into a hidden folder next to the final one and renames it into place once
every file and the manifest are complete, so a reader never finds a half-written file
under a final name; a re-run replaces the whole folder the same way.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

MANIFEST = "manifest.json"
JOB_FOLDER = re.compile(r"job_[A-Za-z0-9_-]{1,60}")
# Only names an export writes: a table's file or the manifest, nothing with a path in it.
FILE_NAME = re.compile(r"[a-z]{1,20}\.(parquet|csv)|manifest\.json")
# Unfinished folders of runs that died, left alone for this long in case one still runs.
STALE_TEMP_S = 24 * 3600


def job_folder(root: Path, job_id: str) -> Path | None:
    if not JOB_FOLDER.fullmatch(job_id):
        return None
    return root / job_id


def new_temp_folder(root: Path, job_id: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f".{job_id}.tmp-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


def publish(temp: Path, final: Path) -> None:
    """Put `temp` in place of `final`. A folder cannot be renamed over a non-empty one,
    so the old one is first moved aside, then removed."""
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        final.rename(old)
    temp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def export_file(root: Path, job_id: str, name: str) -> Path | None:
    """The published file `name` of a job's export, or None: an unknown name, or one that
    is not a plain file right inside the job's folder, is no file at all."""
    folder = job_folder(root, job_id)
    if folder is None or not FILE_NAME.fullmatch(name):
        return None
    path = folder / name
    if not path.is_file() or path.is_symlink() or path.parent != folder:
        return None
    return path


def job_folders(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return [p.name for p in root.iterdir() if p.is_dir() and JOB_FOLDER.fullmatch(p.name)]


def remove_folders(root: Path, job_ids: Iterable[str]) -> int:
    removed = 0
    for job_id in job_ids:
        folder = job_folder(root, job_id)
        if folder is not None and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def remove_stale_temps(root: Path) -> None:
    if not root.is_dir():
        return
    cutoff = time.time() - STALE_TEMP_S
    for path in root.iterdir():
        if path.name.startswith(".job_") and path.is_dir() and path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)
