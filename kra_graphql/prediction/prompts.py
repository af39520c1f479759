"""Creating prompt versions, and choosing the active one of each strategy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.errors import BadUserInput, NotFound
from kra_graphql.prediction.learned import LogitModel
from kra_graphql.prediction.models import PredictorKind, Prompt
from kra_graphql.prediction.predictors import FormSettings
from kra_graphql.runtime import Runtime

# No underscore: ids with one belong to other types (race_…, job_…) in node(id).
NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
VERSION = re.compile(r"v\d{1,4}(\.\d{1,4}){0,2}")
MAX_TEXT = 20_000
MAX_PARAMETERS = 10_000


@dataclass(frozen=True, slots=True)
class NewPrompt:
    name: str
    version: str
    text: str
    predictor: PredictorKind
    parameters: dict[str, Any]
    parent_id: str | None = None

    @property
    def id(self) -> str:
        return f"{self.name}-{self.version}"


def check_name(name: str, *, field: str) -> str:
    if len(name) > 50 or not NAME.fullmatch(name):
        raise BadUserInput("lower-case letters, digits and dashes", field=field)
    return name


def check_new_prompt(new: NewPrompt, *, prefix: str = "input") -> None:
    check_name(new.name, field=f"{prefix}.name")
    if not VERSION.fullmatch(new.version):
        raise BadUserInput("like v1.0 or v2", field=f"{prefix}.version")
    if not new.text.strip() or len(new.text) > MAX_TEXT:
        raise BadUserInput(f"1 to {MAX_TEXT} characters", field=f"{prefix}.text")
    if len(orjson.dumps(new.parameters)) > MAX_PARAMETERS:
        raise BadUserInput(f"at most {MAX_PARAMETERS} bytes", field=f"{prefix}.parameters")
    try:
        if new.predictor is PredictorKind.FORM:
            FormSettings.from_parameters(new.parameters)
        elif new.predictor is PredictorKind.LEARNED:
            # A copy of a trained version's parameters: its model must match its sha256.
            LogitModel.from_parameters(new.parameters)
    except BadUserInput as error:
        raise BadUserInput(error.message, field=f"{prefix}.parameters") from None


async def create_prompt(runtime: Runtime, new: NewPrompt) -> Prompt:
    check_new_prompt(new)
    async with runtime.write() as session:
        if await session.get(Prompt, new.id) is not None:
            raise BadUserInput(f"prompt {new.id} exists already", field="input.version")
        if new.parent_id is not None and await session.get(Prompt, new.parent_id) is None:
            raise NotFound(f"no prompt with id {new.parent_id}", field="input.parentId")
        prompt = Prompt(
            id=new.id,
            name=new.name,
            version=new.version,
            text=new.text,
            predictor=new.predictor,
            parameters=new.parameters,
            parent_id=new.parent_id,
        )
        session.add(prompt)
    return prompt


async def activate_prompt(runtime: Runtime, prompt_id: str) -> Prompt:
    """Make this version its strategy's active one, in one transaction with the previous
    one's deactivation. Activations of one strategy take turns on its rows' locks and
    write only after taking them, so the later one sees (and deactivates) what the earlier
    one activated; the partial unique index is the backstop."""
    async with runtime.write() as session:
        found = await session.get(Prompt, prompt_id)
        if found is None:
            raise NotFound(f"no prompt with id {prompt_id}", field="id")
        strategy = col(Prompt.predictor) == found.predictor
        await session.execute(select(col(Prompt.id)).where(strategy).with_for_update())
        await session.execute(
            update(Prompt)
            .where(strategy, col(Prompt.active), col(Prompt.id) != prompt_id)
            .values(active=False)
        )
        await session.execute(update(Prompt).where(col(Prompt.id) == prompt_id).values(active=True))
        prompt = await session.get(Prompt, prompt_id, populate_existing=True)
        assert prompt is not None  # locked above
    return prompt


async def versions_of(runtime: Runtime, name: str) -> list[Prompt]:
    """Every version of a prompt name."""
    async with runtime.sessions() as session:
        return list((await session.scalars(select(Prompt).where(col(Prompt.name) == name))).all())


async def active_prompt(session: AsyncSession, predictor: PredictorKind) -> Prompt | None:
    """The version of this strategy that scheduled predictions use; None until one is."""
    found: Prompt | None = await session.scalar(
        select(Prompt).where(col(Prompt.predictor) == predictor, col(Prompt.active))
    )
    return found
