"""One way for a job's thread to wait for other threads: a signal, never a sleep-poll.

Uploads run in threads of their own (one per target, ``jobs.execute``) and the job's thread
waits for them while it reports their progress. Waking up every half second to look
(``concurrent.futures.wait(timeout=0.5)`` in a loop) costs a wake-up per job and half a
second of latency whatever happens; this module replaces such loops. Threads call
``Signal.notify()`` when something changed (a chunk acknowledged, an upload finished); the
waiter wakes exactly then, at its deadline, or when the signal is cancelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any


class WaitCancelled(Exception):
    """The signal was cancelled while (or before) a thread waited on it."""


class Signal:
    """A change counter with a condition: ``wait`` returns once the counter moved past what
    the waiter saw, at ``deadline`` (``time.monotonic()`` seconds), or raises
    ``WaitCancelled`` after ``cancel()``. Safe to use from any number of threads."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._changes = 0
        self._cancelled = False

    @property
    def changes(self) -> int:
        with self._cond:
            return self._changes

    @property
    def cancelled(self) -> bool:
        with self._cond:
            return self._cancelled

    def notify(self) -> None:
        """Something changed: wake every waiter."""
        with self._cond:
            self._changes += 1
            self._cond.notify_all()

    def cancel(self) -> None:
        """Wake every waiter with ``WaitCancelled``, now and in every later ``wait``."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def wait(self, seen: int, *, deadline: float | None = None) -> int:
        """Block until the change counter differs from ``seen`` and return it; at
        ``deadline`` return ``seen`` unchanged. Raises WaitCancelled once cancelled."""
        with self._cond:
            while True:
                if self._cancelled:
                    raise WaitCancelled("the wait was cancelled")
                if self._changes != seen:
                    return self._changes
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return seen
                self._cond.wait(remaining)


def wait_all(
    futures: Iterable[Future[Any]],
    signal: Signal,
    on_change: Callable[[], None],
    *,
    deadline: float | None = None,
) -> bool:
    """Wait until every future is done, calling ``on_change()`` in this thread after each
    change announced on ``signal`` (the futures announce their completion themselves).
    False when ``deadline`` passed first; WaitCancelled when ``signal`` was cancelled."""
    pending = list(futures)
    for future in pending:
        future.add_done_callback(lambda _done: signal.notify())
    seen = signal.changes
    while not all(future.done() for future in pending):
        now_seen = signal.wait(seen, deadline=deadline)
        if now_seen == seen:
            return False
        seen = now_seen
        on_change()
    return True
