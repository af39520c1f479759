"""Download an export's files and check each against its manifest.

The manifest itself is checked against the job's result (its sha256 and size), then
every file against the manifest; a file is written under a temporary name and renamed
only once complete, so an interrupted download never leaves a file that looks whole.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from rich.console import Console

from kra_graphql.client.graphql import ClientError

MANIFEST = "manifest.json"
# A file that differs from the manifest: the download is not to be trusted.
EXIT_MISMATCH = 4


def server_root(graphql_url: str) -> str:
    parts = urlsplit(graphql_url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


async def fetch(client: httpx.AsyncClient, url: str, target: Path) -> tuple[str, int]:
    """Stream `url` to `target`; returns (sha256, bytes) of what arrived."""
    partial = target.with_name(f".{target.name}.part")
    sha = hashlib.sha256()
    size = 0
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ClientError(f"GET {url} answered HTTP {response.status_code}")
            with partial.open("wb") as file:
                async for block in response.aiter_bytes():
                    file.write(block)
                    sha.update(block)
                    size += len(block)
    except httpx.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise ClientError(f"cannot download {url}: {error or type(error).__name__}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return sha.hexdigest(), size


def check(name: str, expected: dict[str, Any], sha256: str, size: int) -> str | None:
    """What is wrong with a downloaded file, or None."""
    if size != expected.get("bytes"):
        return f"{name}: {size} bytes, the manifest says {expected.get('bytes')}"
    if sha256 != expected.get("sha256"):
        return (
            f"{name}: sha256 {sha256[:12]}…, the manifest says {str(expected.get('sha256'))[:12]}…"
        )
    return None


def verify_folder(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Check the files of a downloaded export against its manifest, as they are on disk."""
    problems = []
    for entry in manifest.get("files") or []:
        path = folder / str(entry["name"])
        if not path.is_file():
            problems.append(f"{entry['name']}: missing")
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if (problem := check(path.name, entry, digest, path.stat().st_size)) is not None:
            problems.append(problem)
    return problems


def _make_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)


async def download_export(
    graphql_url: str, key: str | None, job: dict[str, Any], folder: Path, console: Console
) -> int:
    """Download a finished export's files into `folder`; 0, or EXIT_MISMATCH."""
    listed = {file["name"]: file for file in (job.get("result") or {}).get("files") or []}
    if MANIFEST not in listed:
        raise ClientError(f"job {job['id']} lists no export files")
    _make_folder(folder)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    root = server_root(graphql_url)
    problems: list[str] = []
    async with httpx.AsyncClient(base_url=root, headers=headers, timeout=120) as client:
        sha256, size = await fetch(client, listed[MANIFEST]["url"], folder / MANIFEST)
        if (problem := check(MANIFEST, listed[MANIFEST], sha256, size)) is not None:
            problems.append(problem)
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        for entry in manifest.get("files") or []:
            name = str(entry["name"])
            if name not in listed or "/" in name or name.startswith("."):
                problems.append(f"{name}: in the manifest but not in the job's result")
                continue
            sha256, size = await fetch(client, listed[name]["url"], folder / name)
            problem = check(name, entry, sha256, size)
            if problem is not None:
                problems.append(problem)
            else:
                console.print(f"{name}: {entry['rows']} rows, {size} bytes, sha256 ok")
    for problem in problems:
        console.print(f"[bold red]mismatch:[/] {problem}", highlight=False)
    if problems:
        return EXIT_MISMATCH
    console.print(f"[bold green]verified[/] {len(manifest.get('files') or [])} file(s) in {folder}")
    return 0
