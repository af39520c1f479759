"""Read-side queries over prompts, predictions and evaluations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.pagination import Key, Keyset, Page, keyset_page
from kra_graphql.prediction.models import Evaluation, Prediction, Prompt


async def list_prompts(session: AsyncSession) -> list[Prompt]:
    rows = await session.scalars(select(Prompt).order_by(col(Prompt.name), col(Prompt.created_at)))
    return list(rows.all())


async def prompts_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, Prompt]:
    rows = await session.scalars(select(Prompt).where(col(Prompt.id).in_(ids)))
    return {prompt.id: prompt for prompt in rows.all()}


@dataclass(frozen=True, slots=True)
class PredictionQuery:
    race_id: str | None = None
    prompt_id: str | None = None
    evaluation_id: int | None = None
    run_id: str | None = None


def _id(text: str) -> int:
    """Only the digits this API writes; int() would take signs and spaces too."""
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


_PREDICTIONS = Keyset(Key(col(Prediction.id), descending=True, parse=_id))
_EVALUATIONS = Keyset(Key(col(Evaluation.id), descending=True, parse=_id))


async def list_predictions(
    session: AsyncSession, query: PredictionQuery, *, first: int, after: str | None
) -> Page[Prediction]:
    conditions: list[ColumnElement[bool]] = []
    if query.race_id is not None:
        conditions.append(col(Prediction.race_id) == query.race_id)
    if query.prompt_id is not None:
        conditions.append(col(Prediction.prompt_id) == query.prompt_id)
    if query.evaluation_id is not None:
        conditions.append(col(Prediction.evaluation_id) == query.evaluation_id)
    if query.run_id is not None:
        conditions.append(col(Prediction.run_id) == query.run_id)
    return await keyset_page(
        session, Prediction, _PREDICTIONS, conditions, first=first, after=after
    )


async def list_evaluations(
    session: AsyncSession, prompt_id: str | None, *, first: int, after: str | None
) -> Page[Evaluation]:
    conditions: list[ColumnElement[bool]] = []
    if prompt_id is not None:
        conditions.append(col(Evaluation.prompt_id) == prompt_id)
    return await keyset_page(
        session, Evaluation, _EVALUATIONS, conditions, first=first, after=after
    )


async def predictions_by_race(
    session: AsyncSession, race_ids: Sequence[str]
) -> dict[str, list[Prediction]]:
    rows = await session.scalars(
        select(Prediction)
        .where(
            col(Prediction.race_id).in_(race_ids),
            # A race's own predictions: direct ones and those of day runs, not the
            # evaluations' (an evaluation lists its own).
            or_(col(Prediction.run_key) == "direct", col(Prediction.run_id).is_not(None)),
        )
        .order_by(col(Prediction.id))
    )
    grouped: dict[str, list[Prediction]] = defaultdict(list)
    for prediction in rows.all():
        grouped[prediction.race_id].append(prediction)
    return grouped


async def predictions_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Prediction]:
    rows = await session.scalars(select(Prediction).where(col(Prediction.id).in_(ids)))
    return {row.id: row for row in rows.all() if row.id is not None}


async def evaluations_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Evaluation]:
    rows = await session.scalars(select(Evaluation).where(col(Evaluation.id).in_(ids)))
    return {row.id: row for row in rows.all() if row.id is not None}


async def existing_run_ids(
    session: AsyncSession, run_ids: Sequence[str], prompt_id: str
) -> set[str]:
    """The runs among these that stored predictions made with this prompt."""
    rows = await session.scalars(
        select(col(Prediction.run_id))
        .where(col(Prediction.run_id).in_(run_ids), col(Prediction.prompt_id) == prompt_id)
        .distinct()
    )
    return {run_id for run_id in rows.all() if run_id is not None}
