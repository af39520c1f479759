"""API keys over GraphQL, for admin keys (the same service as `kra-graphql keys`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from kra_graphql.access import keys
from kra_graphql.access.keys import Scope
from kra_graphql.access.models import ApiKey as ApiKeyRow
from kra_graphql.errors import AppError
from kra_graphql.graphql.types import Info

strawberry.enum(Scope, description="What a key may do.")


@strawberry.type(description="An API key as stored: never the key itself.")
class ApiKey:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The key's first characters, to recognise it.")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_model(cls, row: ApiKeyRow) -> ApiKey:
        return cls(
            id=strawberry.ID(f"apikey_{row.name}"),
            name=row.name,
            prefix=row.prefix,
            scopes=[Scope(s) for s in row.scopes if s in _SCOPE_VALUES],
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


_SCOPE_VALUES = frozenset(scope.value for scope in Scope)


@strawberry.type
class CreatedApiKey:
    key: str = strawberry.field(description="Shown this once; only a hash of it is kept.")
    api_key: ApiKey


@strawberry.input
class CreateApiKeyInput:
    name: str
    scopes: list[Scope]


async def api_keys(info: Info) -> list[ApiKey]:
    rows = await keys.list_keys(info.context.runtime.sessions)
    return [ApiKey.from_model(row) for row in rows]


async def create_api_key(info: Info, input: CreateApiKeyInput) -> CreatedApiKey:
    access = info.context.access
    taken = access.authenticator.env_names if access is not None else frozenset()
    try:
        created = await keys.create_key(
            info.context.runtime.sessions, input.name, input.scopes, taken=taken
        )
    except AppError as error:
        if error.field is not None:
            error.field = f"input.{error.field}"
        raise
    return CreatedApiKey(key=created.key, api_key=ApiKey.from_model(created.row))


async def revoke_api_key(info: Info, name: str) -> ApiKey:
    row = await keys.revoke_key(info.context.runtime.sessions, name)
    return ApiKey.from_model(row)
