"""Turn a presented key into a principal, with a short in-process memory.

Looking a key up costs a database round trip; remembering the answer for `cache_s`
seconds makes that once per key per few seconds per process, and bounds how long a
revoked key keeps working to the same few seconds. Unknown keys are remembered too, so
repeating a bad key costs nothing either.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from kra_graphql.access.keys import (
    MAX_KEY_LENGTH,
    Principal,
    Scope,
    find_key,
    hash_key,
)
from kra_graphql.access.models import ApiKey
from kra_graphql.db import utcnow
from kra_graphql.logging import get_logger

log = get_logger(__name__)

MAX_ENTRIES = 10_000
SCOPE_VALUES = frozenset(scope.value for scope in Scope)
# last_used_at is a hint for people, not an audit trail: write it at most this often.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Authenticator:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        env_keys: Mapping[str, Principal],
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._env_keys = dict(env_keys)
        self._cache_s = cache_s
        self._clock = clock
        self._known: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()

    @property
    def env_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self._env_keys.values() if p.name is not None)

    async def authenticate(self, key: str) -> Principal | None:
        """The key's principal, or None for a key that is unknown, revoked or malformed."""
        if not key or len(key) > MAX_KEY_LENGTH or not key.isascii():
            return None
        digest = hash_key(key)
        principal = self._env_keys.get(digest)
        if principal is not None:
            return principal
        now = self._clock()
        remembered = self._known.get(digest)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        principal = await self._look_up(digest)
        self._known[digest] = (now + self._cache_s, principal)
        self._known.move_to_end(digest)
        while len(self._known) > MAX_ENTRIES:
            self._known.popitem(last=False)
        return principal

    async def _look_up(self, digest: str) -> Principal | None:
        async with self._sessions() as session:
            row = await find_key(session, digest)
            if row is None or row.revoked_at is not None:
                return None
            principal = Principal(
                name=row.name, scopes=frozenset(Scope(s) for s in row.scopes if s in SCOPE_VALUES)
            )
            now = utcnow()
            if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
                try:
                    await session.execute(
                        update(ApiKey).where(col(ApiKey.id) == row.id).values(last_used_at=now)
                    )
                    await session.commit()
                except Exception as error:
                    # A hint that failed to save must not turn away a valid key.
                    log.warning("api_key.last_used_not_saved", key_name=row.name, error=str(error))
            return principal
