"""URL paths of the KRA services this package uses, relative to the B551015 base URL."""

from __future__ import annotations

RACE_DETAIL = "API214_1/RaceDetailResult_1"
RACE_PLAN = "API72_2/racePlan_2"
HORSE = "API8_2/raceHorseInfo_2"
JOCKEY = "API12_1/jockeyInfo_1"
TRAINER = "API19_1/trainerInfo_1"
SCRATCHINGS = "API9_1/raceHorseCancelInfo_1"

ALL = (RACE_DETAIL, RACE_PLAN, HORSE, JOCKEY, TRAINER, SCRATCHINGS)
