"""The shared build-once LRU behind the open-data, demand and map caches."""

import threading
import time

from gis._once import BuildOnceLRU


def test_concurrent_callers_share_one_build():
    cache: BuildOnceLRU[int] = BuildOnceLRU(4)
    calls = []

    def build():
        calls.append(1)
        time.sleep(0.05)
        return 42

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_build("k", build))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 8
    assert len(calls) == 1


def test_least_recently_used_is_dropped_first():
    cache: BuildOnceLRU[str] = BuildOnceLRU(2)
    cache.get_or_build("a", lambda: "A")
    cache.get_or_build("b", lambda: "B")
    assert cache.get("a") == "A"  # a is now the most recently used
    cache.get_or_build("c", lambda: "C")
    assert cache.get("b") is None
    assert sorted(cache.keys()) == ["a", "c"]
    cache.discard("a")
    assert cache.get("a") is None
