"""The bounded caches: least recently used out first, identity keys never mistaken."""

from __future__ import annotations

from kra_graphql.lru import LRU, IdentityLRU


def test_a_full_lru_drops_the_least_recently_used() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_putting_again_replaces_and_refreshes() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b")) == (10, None)


def test_a_default_tells_a_missing_entry_from_a_stored_none() -> None:
    cache: LRU[str, int | None] = LRU(1)
    missing = object()
    cache.put("known", None)
    assert cache.get("known", missing) is None
    assert cache.get("other", missing) is missing


def test_identity_keys_hit_only_the_same_object() -> None:
    cache: IdentityLRU[list[int], str] = IdentityLRU(4)
    key = [1]
    cache.put(key, "plan")
    assert cache.get(key) == "plan"
    assert cache.get([1]) is None
    assert cache.get([1], "missing") == "missing"


def test_tuple_keys_match_object_by_object() -> None:
    cache: IdentityLRU[tuple[object, ...], str] = IdentityLRU(4)
    first, second = object(), object()
    cache.put((first, second, True), "reads")
    assert cache.get((first, second, True)) == "reads"
    assert cache.get((second, first, True)) is None
    assert cache.get((first, second, False)) is None
    assert cache.get((first, second)) is None


def test_an_entry_keeps_its_key_alive_so_its_id_is_never_reused() -> None:
    cache: IdentityLRU[object, int] = IdentityLRU(8)
    cache.put(object(), 1)  # no reference but the cache's own
    newcomers = [object() for _ in range(1000)]
    assert all(cache.get(newcomer) is None for newcomer in newcomers)


def test_a_full_identity_lru_drops_the_least_recently_used() -> None:
    cache: IdentityLRU[object, int] = IdentityLRU(2)
    a, b, c = object(), object(), object()
    cache.put(a, 1)
    cache.put(b, 2)
    assert cache.get(a) == 1
    cache.put(c, 3)
    assert (cache.get(a), cache.get(b), cache.get(c)) == (1, None, 3)
    assert len(cache) == 2
