"""A bounded least-recently-used cache whose values are built once per key, even under threads.

Shared by the per-process caches (parsed open data, demand meshes, rendered map bodies): a
second caller asking for a key that is being built waits for that build instead of repeating it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


class BuildOnceLRU(Generic[V]):
    """At most ``max_entries`` values, least recently used dropped first; each key built once.

    Parameters
    ----------
    max_entries
        How many values are kept.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = int(max_entries)
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> V | None:
        """The value kept under ``key`` (marked as just used), or None."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def get_or_build(self, key: Hashable, build: Callable[[], V]) -> V:
        """The value under ``key``; built with ``build()`` by the first caller, awaited by the others."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
                return value
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                value = self._values.get(key)
            if value is None:
                value = build()
                with self._lock:
                    self._values[key] = value
                    while len(self._values) > self.max_entries:
                        self._values.popitem(last=False)
            with self._lock:
                self._building.pop(key, None)
        return value

    def keys(self) -> Iterator[Hashable]:
        """A snapshot of the keys kept."""
        with self._lock:
            return iter(list(self._values))

    def discard(self, key: Hashable) -> None:
        """Forget ``key`` if kept."""
        with self._lock:
            self._values.pop(key, None)

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._values.clear()
