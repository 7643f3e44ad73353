"""An upload's waits end on a cancel at once, not at the next look at a timer.

The upload pipeline (dracoon/client/upload.py, ``_Pipeline``) waits for memory from the
process's budget, for a source shared with other uploads (a read-once branch) and for its
own reader; every one of those waits also ends at the next change of the upload, and a set
cancel event is such a change (``waits.cancel_wakes``). These tests block a pipeline where
nothing else will ever happen -- the budget held by someone else, a shared source that never
becomes readable -- and check that setting the cancel event alone ends the upload with
``UploadCancelledError``: no buffer was released, no chunk sent. The joins are generous (a
loaded machine) and only bound a hang; what is asserted is the outcome.
"""

from __future__ import annotations

import io
import threading
import time

import pytest

from recording_storage.deadlines import JobBudget
from recording_storage.dracoon.client.chunk_budget import ChunkBudget
from recording_storage.dracoon.client.errors import UploadCancelledError
from recording_storage.dracoon.client.upload import _Pipeline
from recording_storage.waits import CancelEvent, Mark
from tests.support.upload_jobs import run_in_thread, upload_job

KiB = 1024
JOIN_SECONDS = 30  # bounds a hang only; a cancel that works ends the wait at once


class _WatchedBudget(ChunkBudget):
    """A budget that tells when an upload starts waiting for memory."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.waiting = threading.Event()

    def acquire(
        self, length: int, *, until: Mark | None = None, deadline: float | None = None
    ) -> bytearray | None:
        if self.held:
            self.waiting.set()
        return super().acquire(length, until=until, deadline=deadline)


class _NeverReadable(io.BytesIO):
    """A shared source (read-once branch) whose next bytes wait for another upload that
    never moves: ``wait_readable`` only ends when the waiting upload has a change."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.waiting = threading.Event()

    def wait_readable(
        self, nbytes: int, timeout: float | None = None, *, until: Mark | None = None
    ) -> bool:
        assert until is not None, "the pipeline must let a change end this wait"
        self.waiting.set()
        until.wait(None if timeout is None else time.monotonic() + timeout)
        return False


@pytest.mark.parametrize("chunks", [1, 4], ids=["one-chunk-in-caller", "read-ahead-pipeline"])
def test_cancel_ends_a_wait_for_memory_without_any_release(chunks: int) -> None:
    budget = _WatchedBudget(KiB)
    elsewhere = budget.acquire(KiB)  # another upload holds the whole budget and never moves
    assert elsewhere is not None
    cancel = CancelEvent()
    data = b"x" * (chunks * KiB)
    pipeline = _Pipeline(upload_job(io.BytesIO(data), cancel, len(data)), KiB, 1, True, budget)
    sent: list[int] = []
    thread, raised = run_in_thread(pipeline, [(i * KiB, KiB) for i in range(chunks)], sent)
    assert budget.waiting.wait(JOIN_SECONDS), "the upload never waited for memory"

    cancel.set()
    thread.join(JOIN_SECONDS)

    assert not thread.is_alive(), "cancel did not wake the upload waiting for memory"
    assert len(raised) == 1 and isinstance(raised[0], UploadCancelledError)
    assert sent == [] and budget.held == KiB  # nothing moved: only the cancel woke it
    budget.release(elsewhere)
    assert budget.held == 0  # the pipeline gave back whatever it had taken


def test_cancel_ends_a_wait_for_a_shared_source_that_never_becomes_readable() -> None:
    budget = ChunkBudget(16 * KiB)
    source = _NeverReadable(b"y" * (3 * KiB))
    cancel = CancelEvent()
    pipeline = _Pipeline(upload_job(source, cancel, 3 * KiB), KiB, 1, True, budget)
    sent: list[int] = []
    thread, raised = run_in_thread(pipeline, [(0, KiB), (KiB, KiB), (2 * KiB, KiB)], sent)
    assert source.waiting.wait(JOIN_SECONDS), "the upload never asked its shared source"

    cancel.set()
    thread.join(JOIN_SECONDS)

    assert not thread.is_alive(), "cancel did not wake the upload waiting for its source"
    assert len(raised) == 1 and isinstance(raised[0], UploadCancelledError)
    assert sent == [] and budget.held == 0


def test_a_job_budget_set_wakes_the_upload_like_any_cancel_event() -> None:
    """The job's cancel event is its ``deadlines.JobBudget``: ``set()`` (shutdown in this
    process) wakes the upload the same way."""
    budget = _WatchedBudget(KiB)
    elsewhere = budget.acquire(KiB)
    assert elsewhere is not None
    job_budget = JobBudget(3600)
    pipeline = _Pipeline(upload_job(io.BytesIO(b"z" * KiB), job_budget, KiB), KiB, 1, True, budget)
    thread, raised = run_in_thread(pipeline, [(0, KiB)], [])
    assert budget.waiting.wait(JOIN_SECONDS)

    job_budget.set()
    thread.join(JOIN_SECONDS)

    assert not thread.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], UploadCancelledError)
    budget.release(elsewhere)


def test_the_jobs_deadline_ends_the_wait_without_anyone_setting_the_event() -> None:
    """A job budget also becomes set by time: the wait ends at the job's deadline."""
    budget = _WatchedBudget(KiB)
    elsewhere = budget.acquire(KiB)
    assert elsewhere is not None
    job_budget = JobBudget(0.2)
    pipeline = _Pipeline(upload_job(io.BytesIO(b"z" * KiB), job_budget, KiB), KiB, 1, True, budget)
    thread, raised = run_in_thread(pipeline, [(0, KiB)], [])
    thread.join(JOIN_SECONDS)

    assert not thread.is_alive(), "the upload outlived its job's deadline"
    assert len(raised) == 1 and isinstance(raised[0], UploadCancelledError)
    assert job_budget.expired and not job_budget.cancelled
    budget.release(elsewhere)
