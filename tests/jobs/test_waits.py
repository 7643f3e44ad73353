"""waits: a waiting thread wakes on a change, at its deadline or on cancel -- never on
a timer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from recording_storage.deadlines import JobBudget
from recording_storage.waits import (
    PLAIN_EVENT_RECHECK_SECONDS,
    CancelEvent,
    Signal,
    WaitCancelled,
    cancel_wakes,
    recheck_at,
    wait_all,
)


def test_wait_returns_when_another_thread_notifies() -> None:
    signal = Signal()
    seen = signal.changes
    timer = threading.Timer(0.05, signal.notify)
    timer.start()
    started = time.monotonic()
    assert signal.wait(seen, deadline=time.monotonic() + 10) == seen + 1
    assert time.monotonic() - started < 5
    timer.join()


def test_wait_returns_the_old_count_at_the_deadline() -> None:
    signal = Signal()
    started = time.monotonic()
    assert signal.wait(0, deadline=started + 0.05) == 0
    assert time.monotonic() - started >= 0.05


def test_a_change_before_the_wait_is_not_lost() -> None:
    signal = Signal()
    seen = signal.changes
    signal.notify()
    assert signal.wait(seen, deadline=time.monotonic()) == seen + 1


def test_cancel_wakes_a_waiter_and_every_later_wait() -> None:
    signal = Signal()
    raised = threading.Event()

    def waiter() -> None:
        with pytest.raises(WaitCancelled):
            signal.wait(signal.changes)
        raised.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    signal.cancel()
    thread.join(timeout=5)
    assert raised.is_set() and signal.cancelled
    with pytest.raises(WaitCancelled):
        signal.wait(signal.changes, deadline=time.monotonic() + 5)


class _WatchedSignal(Signal):
    """A Signal that tells when a thread first waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, seen: int, *, deadline: float | None = None) -> int:
        self.waiting.set()
        return super().wait(seen, deadline=deadline)


def test_wait_all_reports_each_change_and_ends_when_every_future_is_done() -> None:
    signal = _WatchedSignal()
    steps = [threading.Event() for _ in range(3)]
    reports: list[int] = []
    done = [0, 0]

    def work(index: int) -> int:
        for step in steps:
            assert step.wait(5)
            done[index] += 1
            signal.notify()
        return index

    def release() -> None:  # only once the job's thread waits: its reports are not skipped
        assert signal.waiting.wait(5)
        for step in steps:
            step.set()

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(work, i) for i in range(2)]
        releaser = threading.Thread(target=release)
        releaser.start()
        assert wait_all(futures, signal, lambda: reports.append(sum(done)))
        releaser.join()
    assert [f.result() for f in futures] == [0, 1]
    assert reports and reports == sorted(reports) and reports[-1] <= 6


def test_wait_all_gives_up_at_its_deadline() -> None:
    never: Future[int] = Future()
    assert not wait_all([never], Signal(), lambda: None, deadline=time.monotonic() + 0.05)


def test_a_cancel_event_cancels_the_signals_linked_to_it_at_once() -> None:
    cancel = CancelEvent()
    signal = Signal()
    woke = threading.Event()

    def waiter() -> None:
        with cancel_wakes(cancel, signal):
            assert signal.mark().wait()  # no deadline: only the cancel can end it
        woke.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    cancel.set()
    thread.join(timeout=30)  # bounds a hang only
    assert woke.is_set() and signal.cancelled


def test_a_job_budget_passes_on_the_set_of_an_outer_cancel_event() -> None:
    outer = CancelEvent()
    budget = JobBudget(3600, outer=outer)
    signal = Signal()
    with cancel_wakes(budget, signal):
        assert not signal.cancelled
        outer.set()
        assert signal.cancelled and budget.is_set() and budget.stop_reason() == "cancelled"


def test_waits_look_again_at_a_job_deadline_and_at_an_outer_event_that_cannot_tell() -> None:
    alone = JobBudget(3600)
    at = recheck_at(alone)
    assert at is not None and at - time.monotonic() > 3000  # its deadline, no polling
    assert recheck_at(CancelEvent()) is None  # set() wakes: never looked at by time
    across_processes = JobBudget(3600, outer=threading.Event())  # like multiprocessing's
    at = recheck_at(across_processes)
    assert at is not None and at - time.monotonic() <= PLAIN_EVENT_RECHECK_SECONDS
