"""A job's time budget: one deadline for the whole job, visible to every call the job makes.

Per-read socket timeouts do not bound a job: a server that trickles one byte per second, or a
list that never ends, keeps each read short and the job busy forever. The runner therefore
gives every job a :class:`JobBudget` - a cancel event that also counts as set once the job's
deadline has passed - and publishes it for the job's thread (a ``ContextVar``), so that

* code that already checks the job's cancel event (uploads, the transfer's steps) stops at
  the deadline by the same path as on shutdown, without a thread of its own;
* each HTTP call made from the job's thread gets at most the job's remaining time
  (``remaining_seconds``), and paged listings stop between pages (``stop_reason``).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol

from recording_storage.waits import PLAIN_EVENT_RECHECK_SECONDS, CancelEvent


class CancelSignal(Protocol):
    """What a job's outer cancel must offer: a ``threading.Event`` where the job runs in the
    caller's process (the CLI, tests), the worker's ``multiprocessing.Event`` that the master
    sets at shutdown in the service. The job only ever asks whether it is set."""

    def is_set(self) -> bool: ...


class JobBudget(CancelEvent):
    """A cancel event for one job: set by ``set()``, by the outer (shutdown) event, or by time.

    It is a ``threading.Event`` so it can be handed to everything that takes the job's cancel
    event, and a ``waits.CancelEvent``, so ``set()`` wakes the waits that watch it at once;
    they look again at ``recheck_at`` for the deadline and for an outer event that cannot
    tell anyone it was set (the worker's ``multiprocessing.Event``). ``extend_to`` moves the
    deadline once the job's size is known.
    """

    def __init__(
        self,
        seconds: float,
        *,
        outer: CancelSignal | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._outer = outer
        self._clock = clock
        self.started = clock()
        self.seconds = float(seconds)

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def extend_to(self, seconds: float) -> None:
        """Allow the job ``seconds`` in total (counted from its start); never shortens it."""
        self.seconds = max(self.seconds, float(seconds))

    def remaining(self) -> float:
        return self.deadline - self._clock()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    @property
    def cancelled(self) -> bool:
        return super().is_set() or (self._outer is not None and self._outer.is_set())

    def is_set(self) -> bool:
        return self.cancelled or self.expired

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """As ``CancelEvent.subscribe``; an outer ``CancelEvent`` wakes the subscriber too."""
        unsubscribe = super().subscribe(callback)
        if not isinstance(self._outer, CancelEvent):
            return unsubscribe
        unsubscribe_outer = self._outer.subscribe(callback)

        def both() -> None:
            unsubscribe()
            unsubscribe_outer()

        return both

    def recheck_at(self) -> float | None:
        """The deadline (on ``time.monotonic()``'s scale), or sooner when the outer event
        can only be looked at."""
        at = time.monotonic() + max(0.0, self.remaining())
        if self._outer is not None and not isinstance(self._outer, CancelEvent):
            at = min(at, time.monotonic() + PLAIN_EVENT_RECHECK_SECONDS)
        return at

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until set, the outer event is set or the deadline passes (polls the outer)."""
        end = None if timeout is None else self._clock() + timeout
        while not self.is_set():
            slice_ = min(0.1, max(0.0, self.remaining()))
            if end is not None:
                left = end - self._clock()
                if left <= 0:
                    return False
                slice_ = min(slice_, left)
            super().wait(slice_)
        return True

    def stop_reason(self) -> str | None:
        """Why the job must stop now (``None``: it may go on)."""
        if self.cancelled:
            return "cancelled"
        if self.expired:
            return f"past its deadline of {self.seconds:.0f}s"
        return None


# A call made after the job's deadline (removing an upload channel) still gets this long, so
# clean-up works; the job overruns its deadline by about this at most.
CLEANUP_GRACE = 10.0

_current: ContextVar[JobBudget | None] = ContextVar("recording_storage_job_budget", default=None)


@contextlib.contextmanager
def job_budget(budget: JobBudget) -> Iterator[JobBudget]:
    """Publish ``budget`` to the calls made from this thread (and this context) meanwhile."""
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def current_budget() -> JobBudget | None:
    return _current.get()


def remaining_seconds() -> float | None:
    """Seconds left for the current job, or ``None`` outside a job."""
    budget = _current.get()
    return None if budget is None else budget.remaining()


def stop_reason() -> str | None:
    """Why the current job must stop now, or ``None`` (also outside a job)."""
    budget = _current.get()
    return None if budget is None else budget.stop_reason()


def carry_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` bound to a copy of this thread's context, for a worker thread (an executor does
    not carry context variables): the job's deadline then bounds the calls made there too.
    One copy per submitted call - a context cannot be entered by two threads at once."""
    context = contextvars.copy_context()

    def run(*args: Any, **kwargs: Any) -> Any:
        return context.run(fn, *args, **kwargs)

    return run
