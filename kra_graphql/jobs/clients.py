"""The clients a process that runs jobs builds once and lends to every job it runs."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from redis.asyncio import Redis

from kra_graphql.config import Settings
from kra_graphql.kra.client import KraClient, OnCall
from kra_graphql.kra.factory import create_kra_client
from kra_graphql.prediction.service import Predictors


@dataclass(frozen=True, slots=True)
class WorkerClients:
    kra: KraClient
    predictors: Predictors

    @classmethod
    def create(
        cls,
        settings: Settings,
        redis: Redis,
        http: httpx.AsyncClient,
        *,
        on_call: OnCall | None = None,
    ) -> WorkerClients:
        """Over one HTTP client, which the caller closes."""
        return cls(
            kra=create_kra_client(settings, redis, http, on_call=on_call),
            predictors=Predictors(settings, http),
        )
