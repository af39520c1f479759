"""`node(id)`: any object by its global id, dispatched on the id's type prefix."""

from __future__ import annotations

from kra_graphql.graphql.job_types import visible_job
from kra_graphql.graphql.types import (
    Entry,
    Evaluation,
    Horse,
    Info,
    Jockey,
    Node,
    Prediction,
    Prompt,
    Race,
    Trainer,
)
from kra_graphql.prediction.models import Evaluation as EvaluationRow
from kra_graphql.prediction.models import Prediction as PredictionRow
from kra_graphql.races.models import Entry as EntryRow


async def resolve_node(info: Info, node_id: str) -> Node | None:
    loaders = info.context.loaders
    prefix, _, rest = node_id.partition("_")
    if not rest:
        prompt = await loaders.prompt.load(node_id)
        return Prompt(prompt) if prompt else None
    if prefix == "race":
        race = await loaders.race.load(node_id)
        return Race(race) if race else None
    if prefix == "entry":
        return await _entry(info, rest)
    if prefix == "horse":
        horse = await loaders.horse.load(rest)
        return Horse(horse) if horse else None
    if prefix == "jockey":
        jockey = await loaders.jockey.load(rest)
        return Jockey(jockey) if jockey else None
    if prefix == "trainer":
        trainer = await loaders.trainer.load(rest)
        return Trainer(trainer) if trainer else None
    if prefix == "job":
        return await visible_job(info, node_id)
    if prefix == "prediction" and rest.isdigit():
        prediction = await info.context.read(lambda s: s.get(PredictionRow, int(rest)))
        return Prediction(prediction) if prediction else None
    if prefix == "evaluation" and rest.isdigit():
        evaluation = await info.context.read(lambda s: s.get(EvaluationRow, int(rest)))
        return Evaluation(evaluation) if evaluation else None
    prompt = await loaders.prompt.load(node_id)
    return Prompt(prompt) if prompt else None


async def _entry(info: Info, rest: str) -> Entry | None:
    race_part, _, gate = rest.rpartition("_")
    if not gate.isdigit():
        return None
    rows = await info.context.loaders.entries_by_race().load(f"race_{race_part}")
    found: EntryRow | None = next(
        (row.entry for row in rows if row.entry.gate_number == int(gate)), None
    )
    return Entry(found, info.context.loaders) if found else None
