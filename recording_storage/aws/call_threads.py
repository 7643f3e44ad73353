"""Daemon threads for calls that are waited on with a deadline, kept for the next call.

``s3.call_within`` runs each S3 call in a daemon thread so that a call that never returns
can neither wedge the job nor keep the process from exiting. Starting a thread per call
cost a small job three thread starts (HeadObject, and HeadObject + DeleteObject for the
removal); here a thread that finished its call waits for the next one instead. A call
stuck past its deadline keeps only its own thread busy: the next call takes another idle
thread or starts a new one, so a stuck call never delays another. At most ``max_idle``
threads wait, each for ``idle_seconds``, then they end. A forked child starts with none (the
parent's threads do not exist in it).
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Callable


class CallThreads:
    """Runs each submitted function in an idle daemon thread, or a new one when none is."""

    def __init__(self, name: str, *, max_idle: int = 4, idle_seconds: float = 60.0) -> None:
        self.name = name
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []
        self.started = 0  # threads started so far (tests, and to see that they are reused)
        _live.add(self)

    def _forget_threads(self) -> None:
        """In a forked child: the idle threads were the parent's."""
        self._lock = threading.Lock()
        self._idle = []

    def run(self, work: Callable[[], None]) -> None:
        """Start ``work`` in a thread now; ``work`` reports its outcome itself (never raises)."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
            if inbox is None:
                self.started += 1
        if inbox is not None:
            inbox.put(work)
            return
        inbox = queue.SimpleQueue()
        inbox.put(work)
        threading.Thread(target=self._serve, args=(inbox,), name=self.name, daemon=True).start()

    def _serve(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            try:
                work = inbox.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # nobody took this thread meanwhile: end it
                        self._idle.remove(inbox)
                        return
                continue  # taken just now: its work is on the way
            work()
            with self._lock:
                if len(self._idle) >= self.max_idle:
                    return
                self._idle.append(inbox)


_live: weakref.WeakSet[CallThreads] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_live):
        pool._forget_threads()


os.register_at_fork(after_in_child=_after_fork_in_child)
