"""Global ids: readable, and unique across types thanks to a type prefix."""

from __future__ import annotations


def entry_id(race_id: str, gate_number: int) -> str:
    return f"entry_{race_id.removeprefix('race_')}_{gate_number}"


def horse_id(horse_no: str) -> str:
    return f"horse_{horse_no}"


def jockey_id(jockey_no: str) -> str:
    return f"jockey_{jockey_no}"


def trainer_id(trainer_no: str) -> str:
    return f"trainer_{trainer_no}"


def prediction_id(pk: int) -> str:
    return f"prediction_{pk}"


def evaluation_id(pk: int) -> str:
    return f"evaluation_{pk}"
