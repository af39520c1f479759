"""Bounded caches that drop the least recently used entry when full, not all of them."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


class LRU(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        try:
            self._entries.move_to_end(key)
        except KeyError:
            return default
        return self._entries[key]

    def items(self) -> Iterator[tuple[K, V]]:
        return iter(self._entries.items())

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


class IdentityLRU(Generic[K, V]):
    """Keyed by the key object itself, or by each object of a tuple key, for objects whose
    equality is costly or missing (parsed documents, statements); an equal object that is not
    the same one misses. An entry holds its key, so no other object can take the key's id
    while the entry is cached."""

    def __init__(self, size: int) -> None:
        self._lru: LRU[Hashable, tuple[K, V]] = LRU(size)

    def __len__(self) -> int:
        return len(self._lru)

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        entry = self._lru.get(_slot(key))
        if entry is None:
            return default
        held, value = entry
        if isinstance(held, tuple) and isinstance(key, tuple):  # equal slots: equal lengths
            return value if all(map(operator.is_, held, key)) else default
        return value if held is key else default

    def items(self) -> Iterator[tuple[K, V]]:
        return (entry for _, entry in self._lru.items())

    def put(self, key: K, value: V) -> None:
        self._lru.put(_slot(key), (key, value))


def _slot(key: object) -> Hashable:
    return tuple(map(id, key)) if isinstance(key, tuple) else id(key)
