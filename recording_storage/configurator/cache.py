"""A small thread-safe TTL cache that can serve a stale value while the source is down.

Instance configuration changes rarely, and a configurator outage should not stop transfers
for instances we already know: fresh values are reused for ``ttl`` seconds; after that we
ask again, and if asking fails with a retryable error we keep using the last good value for
up to ``stale_for`` more seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    def __init__(
        self,
        ttl: float,
        *,
        stale_for: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ttl = ttl
        self.stale_for = stale_for
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, T]] = {}

    def get(
        self,
        key: Hashable,
        load: Callable[[], T],
        *,
        may_serve_stale: Callable[[Exception], bool] = lambda exc: False,
        on_stale: Callable[[Exception], None] | None = None,
    ) -> T:
        """Return the cached value or ``load()`` it; errors from ``load`` are not cached."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        try:
            value = load()
        except Exception as exc:
            if (
                entry is not None
                and now - entry[0] < self.ttl + self.stale_for
                and may_serve_stale(exc)
            ):
                if on_stale is not None:
                    on_stale(exc)
                return entry[1]
            raise
        with self._lock:
            self._entries[key] = (self._clock(), value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
