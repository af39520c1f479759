"""API keys: random, shown once, stored only as a SHA-256 hash; scopes say what a key may do.

A key carries 240 random bits, so a fast unsalted hash is enough: nobody can guess a key
from its hash, and lookups stay one indexed equality. Passwords would need a slow hash;
these are not passwords.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from kra_graphql.access.models import ApiKey
from kra_graphql.db import unit_of_work, utcnow
from kra_graphql.errors import BadUserInput, NotFound


class Scope(StrEnum):
    READ = "read"
    COLLECT = "collect"
    PREDICT = "predict"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)
KEY_PREFIX = "kra_"
# Shown in listings to recognise a key; far too short to help anyone guess the rest.
DISPLAY_PREFIX_LENGTH = 12
# Keys from the environment are chosen by people: refuse ones short enough to guess.
MIN_KEY_LENGTH = 20
MAX_KEY_LENGTH = 200
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# Names the system itself writes as the submitter of jobs: the scheduled ones (which
# every reader of jobs sees) and the command line's own imports.
SCHEDULE = "schedule"
RESERVED_NAMES = frozenset({SCHEDULE, "cli"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a named key with its scopes, or nobody in particular (name None)."""

    name: str | None
    scopes: frozenset[Scope]

    @property
    def authenticated(self) -> bool:
        return self.name is not None

    def can(self, scope: Scope) -> bool:
        return scope in self.scopes


# Before anything was proven, e.g. a WebSocket before connection_init.
NOBODY = Principal(name=None, scopes=frozenset())


def anonymous(*, read: bool) -> Principal:
    return Principal(name=None, scopes=frozenset({Scope.READ}) if read else frozenset())


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    scopes: set[Scope] = set()
    for value in values:
        text = value.strip().lower()
        if not text:
            continue
        try:
            scopes.add(Scope(text))
        except ValueError:
            options = ", ".join(scope.value for scope in Scope)
            raise ValueError(f"unknown scope {text[:20]!r} (use {options})") from None
    if not scopes:
        raise ValueError("give at least one scope")
    return frozenset(scopes)


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError("a name is 1-64 of a-z, 0-9, '.', '_' and '-', not starting with . _ -")
    if name in RESERVED_NAMES:
        raise ValueError(f"{name!r} is reserved")
    return name


def parse_env_keys(text: str) -> dict[str, Principal]:
    """`name:scope+scope:key` entries separated by commas, as a map from key hash to principal.

    Messages name the entry by position and never repeat the key.
    """
    keys: dict[str, Principal] = {}
    names: set[str] = set()
    for position, entry in enumerate((e.strip() for e in text.split(",") if e.strip()), 1):
        parts = entry.split(":", 2)
        if len(parts) != 3:
            raise ValueError(f"entry {position}: expected name:scope+scope:key")
        name, scope_text, key = (part.strip() for part in parts)
        try:
            check_name(name)
            scopes = parse_scopes(scope_text.split("+"))
        except ValueError as error:
            raise ValueError(f"entry {position}: {error}") from None
        if not MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH or not key.isascii():
            raise ValueError(
                f"entry {position}: a key is {MIN_KEY_LENGTH}-{MAX_KEY_LENGTH} ASCII characters"
            )
        if name in names:
            raise ValueError(f"entry {position}: name {name!r} appears twice")
        names.add(name)
        keys[hash_key(key)] = Principal(name=name, scopes=scopes)
    return keys


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """The only moment the key itself exists outside the caller's hands."""

    key: str
    row: ApiKey


async def create_key(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    scopes: Iterable[Scope],
    *,
    taken: Iterable[str] = (),
) -> CreatedKey:
    """`taken`: names already used elsewhere (keys from the environment)."""
    row = _new_row(name, scopes, taken)
    key = generate_key()
    row.key_hash, row.prefix = hash_key(key), key[:DISPLAY_PREFIX_LENGTH]
    try:
        async with unit_of_work(sessions) as session:
            session.add(row)
    except IntegrityError:
        raise BadUserInput(f"a key named {name!r} exists already", field="name") from None
    return CreatedKey(key=key, row=row)


async def rotate_key(
    sessions: async_sessionmaker[AsyncSession], name: str, scopes: Iterable[Scope]
) -> CreatedKey:
    """A fresh key under this name; the previous one stops working."""
    key = generate_key()
    async with unit_of_work(sessions) as session:
        row = await session.scalar(select(ApiKey).where(col(ApiKey.name) == name))
        if row is None:
            row = _new_row(name, scopes, ())
            session.add(row)
        row.scopes = _stored(parse_scopes(scopes))
        row.key_hash, row.prefix = hash_key(key), key[:DISPLAY_PREFIX_LENGTH]
        row.created_at, row.revoked_at, row.last_used_at = utcnow(), None, None
    return CreatedKey(key=key, row=row)


def _new_row(name: str, scopes: Iterable[Scope], taken: Iterable[str]) -> ApiKey:
    try:
        check_name(name)
    except ValueError as error:
        raise BadUserInput(str(error), field="name") from None
    try:
        chosen = parse_scopes(scopes)
    except ValueError as error:
        raise BadUserInput(str(error), field="scopes") from None
    if name in set(taken):
        raise BadUserInput(f"a key named {name!r} exists already", field="name")
    return ApiKey(name=name, key_hash="", prefix="", scopes=_stored(chosen))


def _stored(scopes: Iterable[Scope]) -> list[str]:
    return sorted(scope.value for scope in scopes)


async def list_keys(sessions: async_sessionmaker[AsyncSession]) -> Sequence[ApiKey]:
    async with sessions() as session:
        rows = await session.scalars(select(ApiKey).order_by(col(ApiKey.name)))
        return rows.all()


async def revoke_key(sessions: async_sessionmaker[AsyncSession], name: str) -> ApiKey:
    """Idempotent: revoking a revoked key keeps its first revocation time."""
    async with unit_of_work(sessions) as session:
        row = await session.scalar(select(ApiKey).where(col(ApiKey.name) == name))
        if row is None:
            raise NotFound(f"no key named {name[:64]!r}", field="name")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
    return row


async def find_key(session: AsyncSession, key_hash: str) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(col(ApiKey.key_hash) == key_hash))
