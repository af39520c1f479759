"""The LEARNED strategy on recorded January races, through the real server and worker:
training as a job, predicting with the stored model, and the leakage guards."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import orjson
import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import delete, select, update
from sqlmodel import col

from kra_graphql.jobs.models import Job, JobKind, JobLog, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import retry_job
from kra_graphql.prediction.card import RaceCard, Runner, build_card
from kra_graphql.prediction.day import DayPredictionParams
from kra_graphql.prediction.features import Participant, form_features
from kra_graphql.prediction.improvement import ImproveParams
from kra_graphql.prediction.learned import LEARNED_FEATURES, LearnedPredictor, LogitModel
from kra_graphql.prediction.models import Evaluation, Prediction, Prompt
from kra_graphql.prediction.training import TrainParams
from kra_graphql.races.dates import parse_race_date
from kra_graphql.races.models import Entry, Horse, Race, ResultStatus
from kra_graphql.runtime import Runtime
from tests.jobs_support import result_of, run_to_end, wait_job

pytestmark = pytest.mark.usefixtures("worker_process", "january")

DATE_FROM, DATE_TO = "20250101", "20250111"
NAME = "test-learned"

TRAIN = "mutation T($input: TrainModelInput!) { trainModel(input: $input) { id kind status } }"
PREDICT = """
mutation P($input: PredictRaceInput!) {
  predictRace(input: $input) {
    predicted confidence modelVersion winProbabilities { gate probability }
  }
}
"""
EVALUATE = "mutation E($input: EvaluatePromptInput!) { evaluatePrompt(input: $input) { id } }"
PROMPT = "query Q($id: ID!) { node(id: $id) { ... on Prompt { id predictor parameters } } }"


def request(document: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


def day(text: str) -> date:
    return parse_race_date(text, field="d")


async def forget(runtime: Runtime, name: str) -> None:
    """Remove the versions of `name` and what was predicted or evaluated with them."""
    async with runtime.write() as session:
        ids = list(
            (await session.scalars(select(col(Prompt.id)).where(col(Prompt.name) == name))).all()
        )
        if ids:
            await session.execute(delete(Prediction).where(col(Prediction.prompt_id).in_(ids)))
            await session.execute(delete(Evaluation).where(col(Evaluation.prompt_id).in_(ids)))
            await session.execute(delete(Prompt).where(col(Prompt.id).in_(ids)))


@pytest.fixture
async def versions(runtime: Runtime) -> AsyncIterator[None]:
    await forget(runtime, NAME)
    yield
    await forget(runtime, NAME)


def training(**params: Any) -> dict[str, Any]:
    return TrainParams.from_json(
        {"dateFrom": DATE_FROM, "dateTo": DATE_TO, "name": NAME, "params": params}
    ).to_json()


async def train(runtime: Runtime, job_queue: JobQueue, **params: Any) -> Prompt:
    job = await run_to_end(runtime, job_queue, JobKind.TRAINING, training(**params))
    assert job.status == JobStatus.COMPLETED, job.error
    async with runtime.sessions() as session:
        prompt = await session.get(Prompt, result_of(job)["promptId"])
    assert prompt is not None
    return prompt


async def race_ids_on(runtime: Runtime, first: date, last: date | None = None) -> list[str]:
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(col(Race.id))
            .where(col(Race.race_date) >= first)
            .where(col(Race.race_date) <= (last or first))
            .where(col(Race.result_status) == ResultStatus.RESULTED)
            .order_by(col(Race.id))
        )
        return list(found.all())


async def test_training_is_a_job_that_stores_a_version_which_predicts(
    runtime: Runtime, gql_session: AsyncClientSession, versions: None
) -> None:
    submitted = await gql_session.execute(
        request(TRAIN, input={"dateFrom": DATE_FROM, "dateTo": DATE_TO, "name": NAME, "seed": 3})
    )
    assert submitted["trainModel"]["kind"] == "TRAINING"
    job = await wait_job(runtime, submitted["trainModel"]["id"], within_s=120)
    assert job.status == JobStatus.COMPLETED, job.error
    # Cards, a step per fold, validation, storing. A fold is a block of whole days, at most
    # four (the default), so fewer when the fitted part has fewer days.
    folds = (job.total_steps or 0) - 3
    assert job.completed_steps == job.total_steps
    assert 2 <= folds <= 4
    async with runtime.sessions() as session:
        logs = (
            await session.scalars(
                select(col(JobLog.message))
                .where(col(JobLog.job_id) == job.id)
                .order_by(col(JobLog.id))
            )
        ).all()
    assert [m for m in logs if m.startswith("fold ")] == [
        f"fold {k} of {folds} scored by a model fitted on the others" for k in range(1, folds + 1)
    ]

    result = result_of(job)
    found = await gql_session.execute(request(PROMPT, id=result["promptId"]))
    prompt = found["node"]
    assert prompt["id"] == f"{NAME}-v1.0"
    assert prompt["predictor"] == "LEARNED"
    parameters = prompt["parameters"]
    body = orjson.dumps(parameters["model"], option=orjson.OPT_SORT_KEYS)
    assert parameters["sha256"] == result["sha256"] == hashlib.sha256(body).hexdigest()
    assert parameters["features"] == list(LEARNED_FEATURES)
    assert parameters["params"] == {"C": 0.1, "target": "win", "folds": 4, "validationShare": 0.25}
    span = parameters["training"]
    assert span["seed"] == 3
    assert (span["dateFrom"], span["dateTo"]) == ("2025-01-01", "2025-01-11")
    assert span["fitTo"] < span["validationFrom"] <= span["validationTo"]
    assert span["fitRaces"] == result["fitRaces"] >= 20
    assert span["validationRaces"] == parameters["validation"]["races"] >= 5
    assert 0 < parameters["validation"]["field_log_loss"] < 5
    async with runtime.sessions() as session:
        fitted = await race_ids_on(runtime, day(span["fitFrom"]), day(span["fitTo"]))
        fit_days = (
            await session.scalars(
                select(col(Race.race_date)).where(col(Race.id).in_(fitted)).distinct()
            )
        ).all()
    assert len(fitted) == span["fitRaces"]
    assert folds == min(4, len(fit_days))

    # predictRace: one probability per starter, summing to 1; confidence is the first pick's.
    race_id = (await race_ids_on(runtime, day(span["validationFrom"])))[0]
    predicted = (
        await gql_session.execute(
            request(PREDICT, input={"raceId": race_id, "promptId": prompt["id"]})
        )
    )["predictRace"]
    shares = {p["gate"]: p["probability"] for p in predicted["winProbabilities"]}
    assert sum(shares.values()) == pytest.approx(1, abs=1e-4)
    first = predicted["predicted"][0]
    assert shares[first] == max(shares.values())
    assert predicted["confidence"] == round(100 * shares[first])
    assert predicted["modelVersion"] == f"learned:{prompt['id']}"

    # evaluatePrompt scores it like any version, with the probability figures.
    evaluation = await gql_session.execute(
        request(
            EVALUATE,
            input={
                "promptId": prompt["id"],
                "dateFrom": span["validationFrom"].replace("-", ""),
                "dateTo": DATE_TO,
            },
        )
    )
    evaluated = await wait_job(runtime, evaluation["evaluatePrompt"]["id"], within_s=60)
    assert evaluated.status == JobStatus.COMPLETED, evaluated.error
    metrics = result_of(evaluated)["metrics"]
    assert metrics["races"] == span["validationRaces"]
    assert metrics["field_log_loss"] == pytest.approx(parameters["validation"]["field_log_loss"])


async def test_running_the_training_again_stores_nothing_new(
    runtime: Runtime, job_queue: JobQueue, versions: None
) -> None:
    job = await run_to_end(runtime, job_queue, JobKind.TRAINING, training())
    assert job.status == JobStatus.COMPLETED, job.error
    async with runtime.write() as session:
        await session.execute(
            update(Job).where(col(Job.id) == job.id).values(status=JobStatus.FAILED)
        )
    await retry_job(runtime, job_queue, job.id)
    again = await wait_job(runtime, job.id, within_s=120)
    assert again.status == JobStatus.COMPLETED, again.error
    assert result_of(again)["promptId"] == result_of(job)["promptId"]
    async with runtime.sessions() as session:
        stored = (
            await session.scalars(select(col(Prompt.id)).where(col(Prompt.name) == NAME))
        ).all()
    assert stored == [f"{NAME}-v1.0"]
    # A new job is a new version, with the same model: the same races give the same fit.
    other = await train(runtime, job_queue)
    first = await train_result(runtime, f"{NAME}-v1.0")
    assert other.id == f"{NAME}-v2.0"
    assert other.parameters["sha256"] == first.parameters["sha256"]


async def train_result(runtime: Runtime, prompt_id: str) -> Prompt:
    async with runtime.sessions() as session:
        found = await session.get(Prompt, prompt_id)
    assert found is not None
    return found


Positions = dict[int, tuple[int | None, int | None]]  # entry id -> (position, code)


async def shuffle_finishes(runtime: Runtime, race_ids: list[str], seed: int) -> Positions:
    """Deal each race's finishing positions out again at random; returns what was there."""
    rng = random.Random(seed)
    saved: Positions = {}
    async with runtime.write() as session:
        for race_id in race_ids:
            entries = (
                await session.scalars(
                    select(Entry).where(col(Entry.race_id) == race_id, ~col(Entry.scratched))
                )
            ).all()
            positions = [entry.finish_position for entry in entries]
            dealt = positions[:]
            while len(set(positions)) > 1 and dealt == positions:
                rng.shuffle(dealt)
            for entry, position in zip(entries, dealt, strict=True):
                assert entry.id is not None
                saved[entry.id] = (entry.finish_position, entry.finish_code)
                entry.finish_position = position
    return saved


async def restore(runtime: Runtime, saved: Positions) -> None:
    async with runtime.write() as session:
        for entry_id, (position, code) in saved.items():
            await session.execute(
                update(Entry)
                .where(col(Entry.id) == entry_id)
                .values(finish_position=position, finish_code=code)
            )


async def test_later_finishes_change_no_trained_parameter(
    runtime: Runtime, job_queue: JobQueue, versions: None
) -> None:
    """Shuffling the finishing order of every race from the first validation date on (and
    of any race after the range) leaves the model as it was; shuffling one fitted race's
    does not, so the comparison can fail."""
    model = await train(runtime, job_queue)
    first_validation = day(model.parameters["training"]["validationFrom"])
    later = await race_ids_on(runtime, first_validation, date(2030, 1, 1))
    assert len(later) >= 5
    saved = await shuffle_finishes(runtime, later, seed=1)
    try:
        shuffled = await train(runtime, job_queue)
    finally:
        await restore(runtime, saved)
    assert shuffled.parameters["sha256"] == model.parameters["sha256"]
    assert shuffled.parameters["model"] == model.parameters["model"]
    assert shuffled.parameters["validation"] != model.parameters["validation"]

    fitted = await race_ids_on(runtime, day(model.parameters["training"]["fitFrom"]))
    saved = await shuffle_finishes(runtime, fitted[:3], seed=2)
    try:
        refit = await train(runtime, job_queue)
    finally:
        await restore(runtime, saved)
    assert refit.parameters["sha256"] != model.parameters["sha256"]


CardBuilder = Callable[[Runtime, str], Awaitable[RaceCard]]


async def allowed_card(runtime: Runtime, race_id: str) -> RaceCard:
    async with runtime.sessions() as session:
        return await build_card(session, race_id, use_final_odds=False)


async def raw_card(runtime: Runtime, race_id: str) -> RaceCard:
    """The race as stored, whole rows and all: form read up to the end of its own day."""
    async with runtime.sessions() as session:
        race = await session.get(Race, race_id)
        assert race is not None
        entries = (
            await session.scalars(
                select(Entry).where(col(Entry.race_id) == race_id).order_by(col(Entry.gate_number))
            )
        ).all()
        form = await form_features(
            session,
            [Participant(e.horse_no, e.jockey_no, e.trainer_no) for e in entries],
            race.race_date + timedelta(days=1),
            distance=race.distance,
            going=race.track_condition,
        )
    runners = tuple(
        Runner(
            gate_number=e.gate_number,
            horse_no=e.horse_no,
            horse_name=e.horse_name,
            jockey_no=e.jockey_no,
            jockey_name=None,
            trainer_no=e.trainer_no,
            trainer_name=None,
            age=e.age,
            sex=e.sex,
            horse_class=e.horse_class,
            carried_weight=e.carried_weight,
            body_weight=e.body_weight,
            body_weight_change=e.body_weight_change,
            rating=e.rating,
            scratched=e.scratched,
            form=form[e.horse_no],
            win_odds=e.win_odds,
            place_odds=e.place_odds,
        )
        for e in entries
    )
    return RaceCard(
        race_id=race.id, race_date=race.race_date, meet=race.meet,
        race_number=race.race_number, name=race.name, distance=race.distance,
        race_class=race.race_class, age_condition=race.age_condition,
        prize_condition=race.prize_condition, track_condition=race.track_condition,
        weather=race.weather, use_final_odds=True, runners=runners,
    )  # fmt: skip


async def predictions(
    runtime: Runtime, prompt: Prompt, race_ids: list[str], card_of: CardBuilder
) -> dict[str, tuple[tuple[int, ...], dict[int, float]]]:
    predictor = LearnedPredictor()
    found: dict[str, tuple[tuple[int, ...], dict[int, float]]] = {}
    for race_id in race_ids:
        answer = await predictor.predict(await card_of(runtime, race_id), prompt)
        assert answer.probabilities is not None
        found[race_id] = (answer.picks, dict(answer.probabilities))
    return found


POST_RACE = ("finish_position", "finish_code", "finish_time", "margin", "win_odds", "place_odds")


async def poison(runtime: Runtime, race_ids: list[str]) -> list[dict[str, Any]]:
    """Reverse every finish, scramble times and odds, and replace the raw API items (which
    hold the official result and dividends) and the horses' careers; returns the old rows."""
    async with runtime.write() as session:
        entries = (
            await session.scalars(select(Entry).where(col(Entry.race_id).in_(race_ids)))
        ).all()
        races = (await session.scalars(select(Race).where(col(Race.id).in_(race_ids)))).all()
        horses = (
            await session.scalars(
                select(Horse).where(col(Horse.horse_no).in_([e.horse_no for e in entries]))
            )
        ).all()
        saved: list[dict[str, Any]] = [
            {"entry": e.id, "raw": e.raw, **{name: getattr(e, name) for name in POST_RACE}}
            for e in entries
        ]
        saved += [{"race": r.id, "raw": r.raw} for r in races]
        saved += [{"horse": h.horse_no, "wins_total": h.wins_total} for h in horses]
        for e in entries:
            e.finish_position = 20 - e.finish_position if e.finish_position else 1
            e.finish_code = None
            e.finish_time = 1.0
            e.margin = "poisoned"
            e.win_odds = 1.01 + e.gate_number
            e.place_odds = 1.01
            e.raw = {"poisoned": True}
        for r in races:
            r.raw = [{"poisoned": True}]
        for h in horses:
            h.wins_total = 999
    return saved


async def unpoison(runtime: Runtime, saved: list[dict[str, Any]]) -> None:
    async with runtime.write() as session:
        for row in saved:
            values = {k: v for k, v in row.items() if k not in ("entry", "race", "horse")}
            if "entry" in row:
                await session.execute(
                    update(Entry).where(col(Entry.id) == row["entry"]).values(values)
                )
            elif "race" in row:
                await session.execute(
                    update(Race).where(col(Race.id) == row["race"]).values(values)
                )
            else:
                await session.execute(
                    update(Horse).where(col(Horse.horse_no) == row["horse"]).values(values)
                )


async def test_poisoned_post_race_fields_change_no_prediction_unless_the_card_is_bypassed(
    runtime: Runtime, job_queue: JobQueue, versions: None
) -> None:
    model = await train(runtime, job_queue)
    targets = await race_ids_on(runtime, day(model.parameters["training"]["validationFrom"]))
    assert len(targets) >= 5
    clean = await predictions(runtime, model, targets, allowed_card)
    raw_clean = await predictions(runtime, model, targets, raw_card)
    saved = await poison(runtime, targets)
    try:
        poisoned = await predictions(runtime, model, targets, allowed_card)
        raw_poisoned = await predictions(runtime, model, targets, raw_card)
    finally:
        await unpoison(runtime, saved)
    assert poisoned == clean
    # Fed the raw race, the same model moves with the poison: the check above has teeth.
    assert raw_poisoned != raw_clean


@pytest.mark.parametrize(
    ("input_", "field"),
    [
        ({"dateFrom": "20250111", "dateTo": "20250101"}, "input.dateFrom"),
        ({"dateFrom": "2025-13-01", "dateTo": DATE_TO}, "input.dateFrom"),
        ({"dateFrom": DATE_FROM, "dateTo": ""}, "input.dateTo"),
        ({"params": {"depth": 3}}, "input.params"),
        ({"params": {"C": 0}}, "input.params"),
        ({"params": {"folds": 1}}, "input.params"),
        ({"params": {"target": "place"}}, "input.params"),
        ({"params": {"validationShare": "half"}}, "input.params"),
        ({"params": [1, 2]}, "input.params"),
        ({"name": "Bad Name"}, "input.name"),
    ],
)
async def test_bad_training_input_is_refused_with_its_field(
    runtime: Runtime, gql_session: AsyncClientSession, input_: dict[str, Any], field: str
) -> None:
    async with runtime.sessions() as session:
        jobs_before = len((await session.scalars(select(col(Job.id)))).all())
    with pytest.raises(TransportQueryError) as raised:
        await gql_session.execute(
            request(TRAIN, input={"dateFrom": DATE_FROM, "dateTo": DATE_TO, **input_})
        )
    error = (raised.value.errors or [{}])[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == field
    async with runtime.sessions() as session:
        assert len((await session.scalars(select(col(Job.id)))).all()) == jobs_before


async def test_a_range_with_too_few_races_fails_the_job_with_its_reason(
    runtime: Runtime, job_queue: JobQueue, versions: None
) -> None:
    params = TrainParams.from_json(
        {"dateFrom": "20250103", "dateTo": "20250103", "name": NAME}
    ).to_json()
    job = await run_to_end(runtime, job_queue, JobKind.TRAINING, params)
    assert job.status == JobStatus.FAILED
    assert job.error is not None
    assert "at least 20" in job.error
    async with runtime.sessions() as session:
        assert (await session.scalars(select(Prompt).where(col(Prompt.name) == NAME))).all() == []


async def test_improving_a_learned_version_tunes_its_hyperparameters_on_earlier_races(
    runtime: Runtime, job_queue: JobQueue, versions: None
) -> None:
    base = await train(runtime, job_queue)
    improve = ImproveParams(
        prompt_id=base.id, iterations=3, sample_size=10, seed=4,
        date_from=day(DATE_FROM), date_to=day(DATE_TO),
    ).to_json()  # fmt: skip
    job = await run_to_end(runtime, job_queue, JobKind.PROMPT_IMPROVEMENT, improve)
    assert job.status == JobStatus.COMPLETED, job.error
    report = result_of(job)
    async with runtime.sessions() as session:
        candidates = (
            await session.scalars(
                select(Prompt).where(col(Prompt.name) == NAME, col(Prompt.id) != base.id)
            )
        ).all()
    assert len(candidates) == 3
    every = await race_ids_on(runtime, day(DATE_FROM), day(DATE_TO))
    for candidate in candidates:
        assert candidate.predictor == "LEARNED"
        assert candidate.version.startswith("v1.0.")
        # A stored candidate predicts: its model matches its sha256.
        LogitModel.from_parameters(candidate.parameters)
        assert candidate.parameters["params"] != base.parameters["params"]
        record = candidate.parameters["improvement"]
        assert record["job"] == job.id
        assert record["later"]["races"] == report["laterRaces"]
        fitted = candidate.parameters["training"]
        assert fitted["fitRaces"] == report["earlierRaces"]
        # Fitted on the earlier races only: the later ones decide.
        assert fitted["fitTo"] <= report["laterFrom"]
    assert report["earlierRaces"] + report["laterRaces"] <= len(every)
    # Same seed, same races: the same hyperparameters tried.
    again = await run_to_end(runtime, job_queue, JobKind.PROMPT_IMPROVEMENT, improve)
    assert again.status == JobStatus.COMPLETED, again.error
    assert [step["later"] for step in result_of(again)["iterations"]] == [
        step["later"] for step in report["iterations"]
    ]


async def test_a_day_predicted_with_a_learned_version(
    runtime: Runtime, job_queue: JobQueue, versions: None
) -> None:
    model = await train(runtime, job_queue)
    params = DayPredictionParams(race_date=day(DATE_TO), meet=1, prompt_id=model.id).to_json()
    job = await run_to_end(runtime, job_queue, JobKind.PREDICTION, params)
    assert job.status == JobStatus.COMPLETED, job.error
    async with runtime.sessions() as session:
        stored = (
            await session.scalars(select(Prediction).where(col(Prediction.run_id) == job.id))
        ).all()
    assert len(stored) == len(result_of(job)["raceIds"]) >= 5
    for prediction in stored:
        assert prediction.win_probabilities is not None
        assert sum(prediction.win_probabilities.values()) == pytest.approx(1, abs=1e-4)


async def test_a_learned_version_with_altered_numbers_is_refused(
    runtime: Runtime, gql_session: AsyncClientSession, job_queue: JobQueue, versions: None
) -> None:
    model = await train(runtime, job_queue)
    altered = {**model.parameters, "model": {**model.parameters["model"], "intercept": 9.0}}
    create = """
    mutation C($input: CreatePromptInput!) { createPrompt(input: $input) { id } }
    """
    copy = {"name": NAME, "text": "copy", "predictor": "LEARNED"}
    with pytest.raises(TransportQueryError) as raised:
        await gql_session.execute(
            request(create, input={**copy, "version": "v9", "parameters": altered})
        )
    error = (raised.value.errors or [{}])[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "input.parameters"
    # An unaltered copy is a version like any other.
    made = await gql_session.execute(
        request(create, input={**copy, "version": "v8", "parameters": model.parameters})
    )
    assert made["createPrompt"]["id"] == f"{NAME}-v8"
