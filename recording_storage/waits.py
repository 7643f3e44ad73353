"""One way for threads to wait for each other: a signal, never a sleep-poll.

A job's threads wait for each other in many places: the job's thread for its uploads
(``jobs.execute``), an upload's encrypting thread for its reader and its senders, an upload
for memory (``dracoon.client.chunk_budget``) or for a source shared with other uploads
(``jobs.tee``). Waking up every fraction of a second to look costs a wake-up per waiter and
up to that long of latency whatever happens -- also after a cancel, when the job should stop
at once. This module has what replaces such loops:

* ``Signal``: a change counter with a condition. Threads call ``notify()`` when something
  changed (a chunk acknowledged, a chunk read, an upload finished); a waiter wakes exactly
  then, at its deadline, or when the signal is cancelled.
* ``Mark``: a point in a signal's history ("has anything happened since?"). A wait on another
  condition (memory in the budget, bytes in the shared source) can be told to end at the
  next change after the mark too, so one thread waits on one thing and still notices the rest.
* ``CancelEvent``: a ``threading.Event`` that wakes the signals linked to it the moment it is
  set (``cancel_wakes``), instead of being looked at now and then.

It lives below every package (``dracoon.client`` may not import ``jobs``), and imports nothing
from the project. A signal's lock is always the last one taken: ``notify`` and ``cancel`` may
be called with other locks held, and the callbacks of ``Signal.subscribe`` run after the
signal's lock is released, so a callback may take the lock of the condition it wakes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

# A plain threading.Event (or a multiprocessing one) cannot tell anyone it was set: a wait
# that must notice it looks at it this often (what the upload's polls used to do for every
# cancel). A CancelEvent is never looked at this way.
PLAIN_EVENT_RECHECK_SECONDS = 0.2


class WaitCancelled(Exception):
    """The signal was cancelled while (or before) a thread waited on it."""


class Signal:
    """A change counter with a condition: ``wait`` returns once the counter moved past what
    the waiter saw, at ``deadline`` (``time.monotonic()`` seconds), or raises
    ``WaitCancelled`` after ``cancel()``. Safe to use from any number of threads."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._changes = 0
        self._cancelled = False
        self._subscribers: dict[int, Callable[[], None]] = {}
        self._next_id = 0

    @property
    def changes(self) -> int:
        with self._cond:
            return self._changes

    @property
    def cancelled(self) -> bool:
        with self._cond:
            return self._cancelled

    def mark(self) -> Mark:
        """This point in the signal's history, to ask later whether anything happened since."""
        with self._cond:
            return Mark(self, self._changes)

    def notify(self) -> None:
        """Something changed: wake every waiter."""
        with self._cond:
            self._changes += 1
            self._cond.notify_all()
            subscribers = list(self._subscribers.values())
        for callback in subscribers:
            callback()

    def cancel(self) -> None:
        """Wake every waiter with ``WaitCancelled``, now and in every later ``wait``."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()
            subscribers = list(self._subscribers.values())
        for callback in subscribers:
            callback()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` after every change and on cancel (without the signal's lock
        held) until the returned function is called."""
        with self._cond:
            key = self._next_id
            self._next_id += 1
            self._subscribers[key] = callback

        def unsubscribe() -> None:
            with self._cond:
                self._subscribers.pop(key, None)

        return unsubscribe

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


@dataclass(frozen=True)
class Mark:
    """A point in a ``Signal``'s history (``Signal.mark()``): ``passed`` once the signal
    changed or was cancelled after it."""

    signal: Signal
    seen: int

    @property
    def passed(self) -> bool:
        with self.signal._cond:
            return self.signal._cancelled or self.signal._changes != self.seen

    def wait(self, deadline: float | None = None) -> bool:
        """Block until ``passed`` (True) or ``deadline`` (False); never raises on cancel --
        the caller asks whatever was cancelled why."""
        try:
            return self.signal.wait(self.seen, deadline=deadline) != self.seen
        except WaitCancelled:
            return True

    @contextlib.contextmanager
    def wakes(self, cond: threading.Condition) -> Iterator[None]:
        """Meanwhile, a change or cancel of the signal notifies ``cond``: a wait on ``cond``
        that also checks ``passed`` ends at the signal's next change."""

        def wake() -> None:
            with cond:
                cond.notify_all()

        unsubscribe = self.signal.subscribe(wake)
        try:
            yield
        finally:
            unsubscribe()


class CancelEvent(threading.Event):
    """A cancel event that wakes what waits on it at once: ``set()`` calls every subscriber.

    It is a ``threading.Event``, so everything that only asks ``is_set()`` takes it as is.
    ``recheck_at`` is for subclasses that can become set without ``set()`` being called
    (a job's budget at its deadline, ``deadlines.JobBudget``): a wait must look again by then.
    """

    def __init__(self) -> None:
        super().__init__()
        self._subscribers_lock = threading.Lock()
        self._subscribers: dict[int, Callable[[], None]] = {}
        self._next_id = 0

    def set(self) -> None:
        super().set()
        with self._subscribers_lock:
            subscribers = list(self._subscribers.values())
        for callback in subscribers:
            callback()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` when the event gets set (at once when ``set()`` was already
        called), until the returned function is called.

        Only ``set()`` counts, not a subclass's ``is_set()``: a callback usually cancels a
        ``Signal`` for good, while a job's budget that counts as set because its deadline
        passed is unset again by ``extend_to`` -- its waits look at it at ``recheck_at``."""
        with self._subscribers_lock:
            key = self._next_id
            self._next_id += 1
            self._subscribers[key] = callback

        def unsubscribe() -> None:
            with self._subscribers_lock:
                self._subscribers.pop(key, None)

        if threading.Event.is_set(self):
            callback()
        return unsubscribe

    def recheck_at(self) -> float | None:
        """When (``time.monotonic()``) a waiter must look at ``is_set()`` again although
        nobody called ``set()``; None: never, ``set()`` wakes it."""
        return None


def recheck_at(cancel: threading.Event | None) -> float | None:
    """The deadline for one wait that must notice ``cancel``: none for a ``CancelEvent``
    that can only become set by ``set()``; its own time for one that can (a job budget);
    ``PLAIN_EVENT_RECHECK_SECONDS`` from now for an event that cannot tell anyone."""
    if cancel is None:
        return None
    if isinstance(cancel, CancelEvent):
        return cancel.recheck_at()
    return time.monotonic() + PLAIN_EVENT_RECHECK_SECONDS


@contextlib.contextmanager
def cancel_wakes(cancel: threading.Event | None, signal: Signal) -> Iterator[None]:
    """Meanwhile, setting ``cancel`` cancels ``signal`` (when ``cancel`` can tell: a
    ``CancelEvent``; anything else is noticed at ``recheck_at``)."""
    if not isinstance(cancel, CancelEvent):
        yield
        return
    unsubscribe = cancel.subscribe(signal.cancel)
    try:
        yield
    finally:
        unsubscribe()


def wait_for_cancel(cancel: threading.Event | None, seconds: float) -> bool:
    """Wait ``seconds`` unless ``cancel`` gets set first (True: it did) -- the pause
    between two polls of a server, which a cancel must not have to sit out."""
    deadline = time.monotonic() + max(0.0, seconds)
    if cancel is None:
        time.sleep(max(0.0, seconds))
        return False
    signal = Signal()
    with cancel_wakes(cancel, signal):
        while not cancel.is_set():
            now = time.monotonic()
            if now >= deadline:
                return False
            at = recheck_at(cancel)
            signal.mark().wait(deadline if at is None else min(deadline, at))
    return True


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
