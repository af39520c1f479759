"""Follow one job over `jobProgress` and draw it: bar, percentage, step, ETA, log lines.

Ctrl-C does not kill the client outright: it asks whether to cancel the job on the
server, since the job keeps running on the workers whatever the client does.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn
from rich.text import Text

from kra_graphql.client import operations
from kra_graphql.client.graphql import ClientError, ConnectionLost, GraphQLClient

EXIT_CODES = {"COMPLETED": 0, "PARTIAL": 3, "FAILED": 1, "CANCELLED": 1}
# What a shell reports for a process ended by SIGINT; here the job goes on without us.
EXIT_DETACHED = 130
STATUS_STYLES = {
    "COMPLETED": "bold green",
    "PARTIAL": "bold yellow",
    "FAILED": "bold red",
    "CANCELLED": "bold magenta",
}
# The server re-sends a snapshot on every new subscription, so reconnecting is cheap.
RECONNECT_ATTEMPTS = 5
RECONNECT_DELAY_S = 1.0


class EtaColumn(ProgressColumn):
    """Time left from the server's `estimatedCompletion`, counting down between events."""

    def render(self, task: Task) -> Text:
        eta: datetime | None = task.fields.get("eta")
        if eta is None:
            return Text("ETA -:--:--", style="progress.remaining")
        left = max(0, int((eta - datetime.now(UTC)).total_seconds()))
        return Text(f"ETA {timedelta(seconds=left)}", style="progress.remaining")


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _figure(value: object) -> str | None:
    if isinstance(value, bool | int | str):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return str(len(value))
    return None


def summarize(job: dict[str, Any], *, limit: int = 10) -> str:
    """The final line: status, id and the headline figures of the result."""
    figures: list[str] = []
    result: dict[str, Any] = job.get("result") or {}
    for key, value in result.items():
        if (text := _figure(value)) is not None:
            figures.append(f"{key}: {text}")
    # Nested summaries (evaluation metrics, say) after the top-level figures, a few each.
    for key, value in result.items():
        if isinstance(value, dict):
            nested = [(k, _figure(v)) for k, v in value.items() if not isinstance(v, list)]
            figures += [f"{key}.{k}: {text}" for k, text in nested if text is not None][:4]
    parts = [f"{job['status']} {job['id']} ({job['kind']})", *figures[:limit]]
    if job.get("error"):
        parts.append(f"error: {job['error']}")
    return " · ".join(parts)


class Follower:
    def __init__(self, client: GraphQLClient, console: Console, *, interactive: bool) -> None:
        self.client = client
        self.console = console
        self.interactive = interactive
        self.final: dict[str, Any] | None = None
        self._last_sequence = -1
        self._interrupted = asyncio.Event()
        self._held: list[Text] = []
        self._paused = False
        self.progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(bar_width=32),
            TaskProgressColumn(),
            TextColumn("{task.fields[steps]:>7}"),
            EtaColumn(),
            TextColumn("{task.fields[step]}"),
            console=console,
            refresh_per_second=8,
        )
        self._bar = self.progress.add_task("", total=100, steps="", eta=None, step="")

    async def run(self, job: dict[str, Any]) -> int:
        """Follow until the job ends; the exit code for its final status."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._interrupted.set)
        hint = "" if job["status"] in EXIT_CODES else "; Ctrl-C to detach or cancel"
        self.console.print(
            f"job [bold]{job['id']}[/] ({job['kind']}) {job['status']}{hint}",
            highlight=False,
            soft_wrap=True,
        )
        self._show(job)
        self.progress.start()
        consumer = asyncio.create_task(self._consume(job["id"]))
        cancel_requested = False
        try:
            while True:
                interrupt = asyncio.create_task(self._interrupted.wait())
                done, _ = await asyncio.wait(
                    {consumer, interrupt}, return_when=asyncio.FIRST_COMPLETED
                )
                if consumer in done:
                    interrupt.cancel()
                    break
                self._interrupted.clear()
                if cancel_requested or not await self._ask(f"Cancel job {job['id']}?"):
                    consumer.cancel()
                    self.progress.stop()
                    state = "stopping" if cancel_requested else "running"
                    self.console.print(
                        f"left job {job['id']} {state}; follow it again with "
                        f"`kra-graphql watch {job['id']}`",
                        highlight=False,
                        soft_wrap=True,
                    )
                    return EXIT_DETACHED
                cancel_requested = True
                try:
                    answer = await self.client.execute(operations.CANCEL, {"id": job["id"]})
                except ClientError as error:
                    # Typically the job finished meanwhile: keep following to its end.
                    self._say(Text(f"cancel failed: {error.line()}", style="red"))
                    continue
                self._say(Text(f"cancel requested; job is {answer['cancelJob']['status']}",
                               style="yellow"))  # fmt: skip
                self._show(answer["cancelJob"])
            consumer.result()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            if not consumer.done():
                consumer.cancel()
            self.progress.stop()
        final = self.final or job
        self.console.print(
            Text(summarize(final), style=STATUS_STYLES.get(final["status"], "bold")),
            soft_wrap=True,
        )
        return EXIT_CODES.get(final["status"], 1)

    async def _consume(self, job_id: str) -> None:
        attempts = 0
        while self.final is None:
            try:
                async for data in self.client.subscribe(operations.PROGRESS, {"id": job_id}):
                    attempts = 0
                    self._on_event(data["jobProgress"])
                if self.final is None:
                    # Completed without a terminal event seen: read the row itself.
                    job = (await self.client.execute(operations.JOB, {"id": job_id}))["job"]
                    if job["status"] in EXIT_CODES:
                        self.final = job
                    else:
                        await asyncio.sleep(RECONNECT_DELAY_S)
            except ConnectionLost as lost:
                attempts += 1
                if attempts > RECONNECT_ATTEMPTS:
                    raise
                self._say(Text(f"{lost.message}; reconnecting", style="yellow"))
                await asyncio.sleep(RECONNECT_DELAY_S)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event["sequence"] <= self._last_sequence:
            return
        self._last_sequence = event["sequence"]
        job = event["job"]
        if event["type"] == "LOG" and event.get("message"):
            at = parse_time(event.get("at"))
            stamp = f"{at.astimezone():%H:%M:%S} " if at else ""
            self._say(Text(f"{stamp}{event['message']}", style="dim"))
        elif event["type"] == "STATUS":
            self._say(Text(f"status {job['status']}", style="cyan"))
        self._show(job)
        if job["status"] in EXIT_CODES:
            self.final = job

    def _show(self, job: dict[str, Any]) -> None:
        total = job.get("totalSteps")
        self.progress.update(
            self._bar,
            description=job["status"],
            completed=job["progress"],
            steps=f"{job.get('completedSteps') or 0}/{total}" if total else "",
            eta=parse_time(job.get("estimatedCompletion")),
            step=job.get("currentStep") or "",
        )

    def _say(self, line: Text) -> None:
        """A line above the bar; held back while a question is on screen."""
        if self._paused:
            self._held.append(line)
        else:
            self.progress.console.print(line, soft_wrap=True)

    async def _ask(self, question: str) -> bool:
        if not self.interactive:
            return False
        self._paused = True
        self.progress.stop()
        try:
            self.console.print(f"{question} [y/N] ", end="", markup=False, highlight=False)
            answer = await self._read_line()
            return answer is not None and answer.strip().lower() in {"y", "yes"}
        finally:
            self._paused = False
            for line in self._held:
                self.console.print(line)
            self._held.clear()
            self.progress.start()

    async def _read_line(self) -> str | None:
        """One line from the terminal, or None on end of input or a second Ctrl-C."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str] = loop.create_future()
        fd = sys.stdin.fileno()

        def readable() -> None:
            if not answer.done():
                answer.set_result(sys.stdin.readline())

        # A reader on the event loop, not a thread: a thread blocked in input() would
        # keep the process alive after a second Ctrl-C.
        loop.add_reader(fd, readable)
        interrupt = asyncio.create_task(self._interrupted.wait())
        either: set[asyncio.Future[Any]] = {answer, interrupt}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(fd)
            interrupt.cancel()
        if not answer.done():
            self._interrupted.clear()
            self.console.print()
            return None
        return answer.result() or None


async def follow_job(
    client: GraphQLClient, console: Console, job: dict[str, Any], *, interactive: bool
) -> int:
    follower = Follower(client, console, interactive=interactive)
    return await follower.run(job)
