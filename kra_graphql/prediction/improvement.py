"""Improve a FORM or LLM prompt on a temporal split.

Races with known results are ordered by date. The earlier share tunes candidates; a
candidate becomes champion only if it beats the champion on a sample of the earlier
part and then on the later part, which tuning never looks at. Each iteration proposes
one candidate (see `tuners`: a seeded weight search for FORM, a rewrite by the LLM for
LLM). Every candidate is stored as a prompt version with its parent, its scores and the
reason it was or was not promoted; an iteration without a candidate is reported with
its reason.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError

from kra_graphql.errors import BadUserInput
from kra_graphql.prediction.dataset import resulted_races
from kra_graphql.prediction.metrics import Picks, RaceResult, correct_count
from kra_graphql.prediction.models import PredictorKind, Prompt
from kra_graphql.prediction.prompts import versions_of
from kra_graphql.prediction.service import (
    Predictors,
    check_parallelism,
    get_prompt,
    llm_not_configured,
)
from kra_graphql.prediction.tuners import (
    Candidate,
    FormTuner,
    LearnedTuner,
    LlmTuner,
    NoCandidate,
    Proposal,
    Tuner,
    tunable,
)
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.races.dates import parse_race_date
from kra_graphql.runtime import Runtime

MAX_ITERATIONS = 100
MAX_SAMPLE = 5000
IMPROVABLE = (PredictorKind.FORM, PredictorKind.LLM, PredictorKind.LEARNED)

# Versions tried when concurrent improvements of one prompt race for the next number.
VERSION_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ImproveParams:
    prompt_id: str
    iterations: int = 10
    sample_size: int = 200
    seed: int = 0
    train_share: float = 0.7
    date_from: date | None = None
    date_to: date | None = None
    parallelism: int = 4  # LLM predictions at once

    def to_json(self) -> dict[str, Any]:
        return {
            "promptId": self.prompt_id,
            "iterations": self.iterations,
            "sampleSize": self.sample_size,
            "seed": self.seed,
            "trainShare": self.train_share,
            "dateFrom": self.date_from.isoformat() if self.date_from else None,
            "dateTo": self.date_to.isoformat() if self.date_to else None,
            "parallelism": self.parallelism,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImproveParams:
        def day(name: str) -> date | None:
            value = data.get(name)
            return parse_race_date(value, field=name) if value else None

        return cls(
            prompt_id=data["promptId"],
            iterations=int(data.get("iterations", 10)),
            sample_size=int(data.get("sampleSize", 200)),
            seed=int(data.get("seed", 0)),
            train_share=float(data.get("trainShare", 0.7)),
            date_from=day("dateFrom"),
            date_to=day("dateTo"),
            parallelism=int(data.get("parallelism", 4)),
        )

    def check(self, prefix: str = "input") -> ImproveParams:
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise BadUserInput(f"1 to {MAX_ITERATIONS}", field=f"{prefix}.iterations")
        if not 10 <= self.sample_size <= MAX_SAMPLE:
            raise BadUserInput(f"10 to {MAX_SAMPLE}", field=f"{prefix}.sampleSize")
        if not 0.5 <= self.train_share <= 0.9:
            raise BadUserInput("between 0.5 and 0.9", field=f"{prefix}.trainShare")
        check_parallelism(self.parallelism, field=f"{prefix}.parallelism")
        return self


def check_improvable(prompt: Prompt) -> None:
    if prompt.predictor not in IMPROVABLE:
        raise BadUserInput("only FORM, LLM and LEARNED prompts can be improved", field="promptId")


@dataclass(frozen=True, slots=True)
class Score:
    """Counts, not rates, so a score read back from a stored candidate compares exactly."""

    correct: int  # picks in the top three, over all races
    all_three: int  # races with all three picks in the top three
    races: int

    @property
    def average_correct(self) -> float:
        return self.correct / self.races if self.races else 0.0

    @property
    def success_rate(self) -> float:
        return self.all_three / self.races if self.races else 0.0

    @classmethod
    def of(cls, picks: Mapping[str, Picks], results: Mapping[str, RaceResult]) -> Score:
        counts = []
        for race_id, race_picks in picks.items():
            top3 = results[race_id].top3
            assert top3 is not None  # only races with a top three are tuned or scored
            counts.append(correct_count(race_picks, top3))
        return cls(sum(counts), sum(1 for count in counts if count == 3), len(counts))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Score:
        return cls(int(data["correct"]), int(data["allThree"]), int(data["races"]))

    def beats(self, other: Score) -> bool:
        return (self.average_correct, self.success_rate) > (
            other.average_correct,
            other.success_rate,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "averageCorrect": round(self.average_correct, 4),
            "successRate": round(self.success_rate, 4),
            "races": self.races,
            "correct": self.correct,
            "allThree": self.all_three,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one iteration gave: a stored candidate, or only the reason there is none."""

    reason: str
    promoted: bool = False
    prompt: Prompt | None = None
    later: Score | None = None
    failed: bool = False

    def as_json(self, iteration: int) -> dict[str, Any]:
        return {
            "iteration": iteration,
            "promptId": self.prompt.id if self.prompt else None,
            "promoted": self.promoted,
            "reason": self.reason,
            "later": self.later.as_json() if self.later else None,
        }


@dataclass(slots=True)
class _Search:
    """The state one improvement job carries from iteration to iteration."""

    runtime: Runtime
    job_id: str
    base: Prompt
    tuner: Tuner
    results: Mapping[str, RaceResult]
    late: list[str]
    next_patch: int

    async def score(self, text: str, parameters: Mapping[str, Any], race_ids: list[str]) -> Score:
        return Score.of(await self.tuner.picks(text, tunable(parameters), race_ids), self.results)

    async def trial(
        self,
        iteration: int,
        champion: Prompt,
        champion_late: Score,
        sample: list[str],
        proposal: Proposal,
    ) -> Outcome:
        champion_picks = await self.tuner.picks(champion.text, tunable(champion.parameters), sample)
        champion_early = Score.of(champion_picks, self.results)
        try:
            candidate = await proposal(champion_picks)
        except NoCandidate as error:
            return Outcome(reason=error.reason, failed=error.failed)
        early = await self.score(candidate.text, candidate.parameters, sample)
        later = await self.score(candidate.text, candidate.parameters, self.late)
        if not early.beats(champion_early):
            promoted, reason = False, "not better than the champion on the earlier sample"
        elif not later.beats(champion_late):
            promoted, reason = False, "better on the earlier sample, not on the later races"
        else:
            promoted, reason = True, "better on the earlier sample and on the later races"
        record: dict[str, Any] = {
            "job": self.job_id,
            "iteration": iteration,
            "earlier": early.as_json(),
            "later": later.as_json(),
            "championEarlier": champion_early.as_json(),
            "championLater": champion_late.as_json(),
            "promoted": promoted,
            "reason": reason,
        }
        if candidate.rationale is not None:
            record["rationale"] = candidate.rationale
        stored = await _store_candidate(
            self.runtime, self.base, champion, self.next_patch, candidate, record
        )
        self.next_patch = int(stored.version.rsplit(".", 1)[1]) + 1
        return Outcome(reason=reason, promoted=promoted, prompt=stored, later=later)


def _resumed(stored: Prompt) -> Outcome:
    record = stored.parameters["improvement"]
    return Outcome(
        reason=record["reason"],
        promoted=bool(record["promoted"]),
        prompt=stored,
        later=Score.from_json(record["later"]),
    )


async def improve_prompt(
    runtime: Runtime,
    progress: Progress,
    params: ImproveParams,
    *,
    predictors: Predictors | None = None,
) -> JobOutcome:
    """`predictors` is needed for LLM prompts only: it holds the configured endpoint."""
    base = await get_prompt(runtime, params.prompt_id)
    check_improvable(base)
    llm = None
    if base.predictor == PredictorKind.LLM:
        if predictors is None:
            raise llm_not_configured()
        llm = predictors.llm()
    await progress.set_total(params.iterations + 1, step="reading race cards")
    races = await resulted_races(runtime, progress, params.date_from, params.date_to)
    cards, results = races.cards, races.results
    early, late = races.split_at(params.train_share)
    if len(early) < 10 or len(late) < 5:
        raise BadUserInput("too few races with results to split", field="promptId")
    await progress.log(f"{len(early)} earlier races tune, {len(late)} later races decide")
    await progress.advance()

    tuner: Tuner
    if llm is not None:
        tuner = LlmTuner(llm, cards, results, parallelism=params.parallelism,
                         check_cancelled=progress.check_cancelled)  # fmt: skip
    elif base.predictor == PredictorKind.LEARNED:
        tuner = LearnedTuner(races, early, late)
    else:
        tuner = FormTuner(cards)
    search = _Search(
        runtime, progress.job_id, base, tuner, results, late, await _next_patch(runtime, base)
    )
    # A re-run of the job picks up the candidates it stored before instead of adding more;
    # a stored later iteration proves that an earlier one without a candidate had finished.
    done = await _stored_iterations(runtime, base, progress.job_id)
    finished = max(done, default=0)
    rng = random.Random(params.seed)  # noqa: S311 - a reproducible search, not secrets
    await progress.step("scoring the starting prompt on the later races")
    champion = base
    champion_late = start_late = await search.score(base.text, base.parameters, late)
    history: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for iteration in range(1, params.iterations + 1):
        await progress.step(f"iteration {iteration}")
        sample = rng.sample(early, min(params.sample_size, len(early)))
        proposal = tuner.propose(champion, rng)
        if iteration in done:
            outcome = _resumed(done[iteration])
        elif iteration < finished:
            outcome = Outcome(reason="no candidate in an earlier attempt of this job")
        else:
            outcome = await search.trial(iteration, champion, champion_late, sample, proposal)
        history.append(outcome.as_json(iteration))
        if outcome.failed:
            failures.append({"iteration": iteration, "error": outcome.reason})
        if outcome.prompt is None or outcome.later is None:
            await progress.log(f"iteration {iteration}: no candidate: {outcome.reason}",
                               level="WARNING")  # fmt: skip
        else:
            await progress.log(
                f"iteration {iteration}: {outcome.prompt.id} later avg correct "
                f"{outcome.later.average_correct:.3f} vs {champion_late.average_correct:.3f}: "
                + ("promoted" if outcome.promoted else outcome.reason)
            )
            if outcome.promoted:
                champion, champion_late = outcome.prompt, outcome.later
        await progress.advance()
    return JobOutcome(
        result={
            "championId": champion.id,
            "startingLater": start_late.as_json(),
            "championLater": champion_late.as_json(),
            "earlierRaces": len(early),
            "laterRaces": len(late),
            "laterFrom": cards[late[0]].race_date.isoformat(),
            "iterations": history,
        },
        failures=failures,
    )


def _version_root(version: str) -> str:
    parts = version.split(".")
    return ".".join(parts[:2])


async def _next_patch(runtime: Runtime, base: Prompt) -> int:
    root = _version_root(base.version)
    patches = [
        int(sibling.version.rsplit(".", 1)[1])
        for sibling in await versions_of(runtime, base.name)
        if sibling.version.startswith(root + ".")
        and sibling.version.count(".") == root.count(".") + 1
    ]
    return max(patches, default=0) + 1


async def _stored_iterations(runtime: Runtime, base: Prompt, job_id: str) -> dict[int, Prompt]:
    """The candidates an earlier attempt of this job stored, by iteration."""
    stored = {}
    for sibling in await versions_of(runtime, base.name):
        record = sibling.parameters.get("improvement") or {}
        if record.get("job") == job_id:
            stored[int(record["iteration"])] = sibling
    return stored


async def _store_candidate(
    runtime: Runtime,
    base: Prompt,
    parent: Prompt,
    patch: int,
    candidate: Candidate,
    record: dict[str, Any],
) -> Prompt:
    for _ in range(VERSION_ATTEMPTS):
        version = f"{_version_root(base.version)}.{patch}"
        prompt = Prompt(
            id=f"{base.name}-{version}",
            name=base.name,
            version=version,
            text=candidate.text,
            predictor=base.predictor,
            parameters={**candidate.parameters, "improvement": record},
            parent_id=parent.id,
        )
        try:
            async with runtime.write() as session:
                session.add(prompt)
        except IntegrityError:
            # Another improvement of the same prompt took this version meanwhile.
            patch = await _next_patch(runtime, base)
            continue
        return prompt
    raise RuntimeError(f"no free version of {base.name} after {VERSION_ATTEMPTS} attempts")
