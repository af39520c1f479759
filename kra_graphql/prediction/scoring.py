"""Score predictions already stored by predictRaces runs, once their races have results.

The race-day chain predicts before the races and scores after them: scoring must read
the very predictions made then, not predict again on a card that has since changed.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel import col

from kra_graphql.prediction.metrics import Report, ScoredPrediction, correct_count, evaluate
from kra_graphql.prediction.models import Prediction, Prompt
from kra_graphql.prediction.probabilities import from_stored
from kra_graphql.prediction.results import load_results
from kra_graphql.progress import Progress
from kra_graphql.runtime import Runtime


async def score_runs(
    runtime: Runtime, progress: Progress, prompt: Prompt, run_ids: list[str], evaluation_id: int
) -> Report:
    """Each prediction of the runs made with `prompt` gets its correct count and joins the
    evaluation; a race without a top three yet counts as excluded."""
    async with runtime.sessions() as session:
        rows = list(
            (
                await session.scalars(
                    select(Prediction)
                    .where(col(Prediction.run_id).in_(run_ids))
                    .where(col(Prediction.prompt_id) == prompt.id)
                    .order_by(col(Prediction.id))
                )
            ).all()
        )
        results = await load_results(session, [row.race_id for row in rows])
    await progress.set_total(len(rows), step="scoring")
    pairs = []
    async with runtime.write() as session:
        for row in rows:
            await progress.check_cancelled()
            picks = (row.first_pick or 0, row.second_pick or 0, row.third_pick or 0)
            result = results[row.race_id]
            top3 = result.top3
            await session.execute(
                update(Prediction)
                .where(col(Prediction.id) == row.id)
                .values(
                    evaluation_id=evaluation_id,
                    correct_count=correct_count(picks, top3) if top3 else None,
                )
            )
            scored = ScoredPrediction(
                picks, row.confidence, row.deferred, row.valid_answer,
                from_stored(row.win_probabilities),
            )  # fmt: skip
            pairs.append((scored, result))
    await progress.advance(len(rows))
    return evaluate(pairs)
