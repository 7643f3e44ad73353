"""Adversarial cases for the upload pipeline's waits (468e49e, recording_storage/waits.py).

* The job's budget counts as set once its deadline passed, but ``extend_to`` (the first
  progress report, once the job's size is known) makes it unset again. A signal cancelled
  because the budget looked set when the upload subscribed stays cancelled for good: every
  later wait of that upload would return at once -- a busy loop for the rest of the upload.
* The worker's cancel is a ``multiprocessing.Event``, which cannot notify anyone: an upload
  waiting on memory must still notice it (by looking again) when another process sets it,
  without a set() on the budget, and must not wake more often than that while it waits.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import threading
import time
from typing import Any

from recording_storage.deadlines import JobBudget
from recording_storage.dracoon.client import upload as upload_module
from recording_storage.dracoon.client.chunk_budget import ChunkBudget
from recording_storage.dracoon.client.errors import UploadCancelledError
from recording_storage.dracoon.client.upload import _Pipeline
from recording_storage.waits import PLAIN_EVENT_RECHECK_SECONDS, Mark, Signal, cancel_wakes
from tests.support.upload_jobs import run_in_thread, upload_job

KiB = 1024
JOIN_SECONDS = 30  # bounds a hang only
WAIT_SECONDS = 1.0  # how long the upload is kept waiting for memory


class _CountingBudget(ChunkBudget):
    """A budget that counts how often an upload tries to take memory while it is held."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.waiting = threading.Event()
        self.tries = 0

    def acquire(
        self, length: int, *, until: Mark | None = None, deadline: float | None = None
    ) -> bytearray | None:
        if self.held:
            self.tries += 1
            self.waiting.set()
        return super().acquire(length, until=until, deadline=deadline)


def _start(pipeline: _Pipeline, chunks: list[tuple[int, int]]):
    sent: list[int] = []
    thread, raised = run_in_thread(pipeline, chunks, sent)
    return thread, sent, raised


def test_a_signal_linked_to_an_expired_then_extended_budget_is_not_cancelled_for_good() -> None:
    budget = JobBudget(0.0)  # its base deadline passed (e.g. while the channel was created)
    signal = Signal()
    with cancel_wakes(budget, signal):
        budget.extend_to(3600)  # the first progress report: the job may go on
        assert not budget.is_set()
        mark = signal.mark()
        assert not mark.passed, "the upload's every wait would end at once: a busy loop"
        assert mark.wait(time.monotonic() + 0.2) is False


def test_an_upload_that_subscribed_to_an_expired_budget_does_not_spin_once_extended(
    monkeypatch,
) -> None:
    budget = _CountingBudget(KiB)
    elsewhere = budget.acquire(KiB)  # another upload holds all memory for a while
    assert elsewhere is not None
    budget.tries = 0
    job_budget = JobBudget(0.0)
    linked = upload_module.cancel_wakes

    @contextlib.contextmanager
    def linked_then_extended(cancel, signal):
        with linked(cancel, signal):
            job_budget.extend_to(3600)  # the job's size became known right after
            yield

    monkeypatch.setattr(upload_module, "cancel_wakes", linked_then_extended)
    pipeline = _Pipeline(upload_job(io.BytesIO(b"a" * KiB), job_budget, KiB), KiB, 1, True, budget)
    thread, sent, raised = _start(pipeline, [(0, KiB)])
    assert budget.waiting.wait(JOIN_SECONDS)
    time.sleep(WAIT_SECONDS)
    tries = budget.tries
    budget.release(elsewhere)
    thread.join(JOIN_SECONDS)

    assert not thread.is_alive() and raised == [] and sent == [0]
    # Nothing happens to this upload while it waits: it tries once, and again only when
    # woken (the budget's release). A spin tries thousands of times.
    assert tries <= 3, f"{tries} tries for memory in {WAIT_SECONDS}s of waiting: a busy loop"


def _set_later(event: Any, seconds: float) -> None:
    time.sleep(seconds)
    event.set()


def test_the_workers_multiprocessing_cancel_set_by_another_process_ends_the_wait() -> None:
    """The master sets the worker's cancel flag; nobody calls set() on the job's budget."""
    context = multiprocessing.get_context("fork")
    outer = context.Event()
    budget = _CountingBudget(KiB)
    elsewhere = budget.acquire(KiB)
    assert elsewhere is not None
    budget.tries = 0
    job_budget = JobBudget(3600, outer=outer)
    data = b"b" * (3 * KiB)
    pipeline = _Pipeline(upload_job(io.BytesIO(data), job_budget, len(data)), KiB, 1, True, budget)
    thread, sent, raised = _start(pipeline, [(0, KiB), (KiB, KiB), (2 * KiB, KiB)])
    assert budget.waiting.wait(JOIN_SECONDS)
    setter = context.Process(target=_set_later, args=(outer, WAIT_SECONDS))
    started = time.monotonic()
    setter.start()
    thread.join(JOIN_SECONDS)
    ended = time.monotonic()
    setter.join(JOIN_SECONDS)

    assert not thread.is_alive(), "the master's cancel never reached the waiting upload"
    assert len(raised) == 1 and isinstance(raised[0], UploadCancelledError)
    assert sent == [] and budget.held == KiB
    assert job_budget.cancelled and not job_budget.expired
    # It looked again every PLAIN_EVENT_RECHECK_SECONDS, not more often (no spin).
    looks = (ended - started) / PLAIN_EVENT_RECHECK_SECONDS
    assert budget.tries <= 3 * looks + 10, (budget.tries, looks)
    budget.release(elsewhere)
    assert budget.held == 0


def test_an_upload_that_starts_past_the_jobs_deadline_still_stops_at_once() -> None:
    """The other side of the fix: an expired budget no longer cancels the upload's signal
    when it subscribes, so the waits must see the deadline by time (``recheck_at``)."""
    budget = _CountingBudget(KiB)
    elsewhere = budget.acquire(KiB)
    assert elsewhere is not None
    job_budget = JobBudget(0.0)
    data = b"c" * (3 * KiB)
    pipeline = _Pipeline(upload_job(io.BytesIO(data), job_budget, len(data)), KiB, 1, True, budget)
    thread, sent, raised = _start(pipeline, [(0, KiB), (KiB, KiB), (2 * KiB, KiB)])
    thread.join(JOIN_SECONDS)

    assert not thread.is_alive(), "an upload past its job's deadline went on waiting"
    assert len(raised) == 1 and isinstance(raised[0], UploadCancelledError)
    assert sent == [] and budget.held == KiB
    budget.release(elsewhere)
    assert budget.held == 0
