"""One memory budget for the chunk buffers of every upload in a process.

Each upload holds its chunks in buffers while it reads, encrypts and sends them (a chunk is
kept until the server acknowledged it, so a retry can resend the same ciphertext). Per
upload that is a few chunks; but one job uploads a recording into all its target rooms at
the same time (jobs.tee), so without a shared bound memory grew with the number of targets
(50 targets x 3 chunks x 20 MiB = 3 GiB). Every upload pipeline therefore takes its buffers
from this budget and gives them back once their chunk is acknowledged. When the budget is
spent, a pipeline waits for one -- woken by a release, or by a change of its own upload (a
chunk sent, a cancel) through a ``waits.Mark``, never by a timer: back-pressure that
reaches the S3 reader, because a pipeline only asks for a buffer once its source can fill
it at once (see
``dracoon.client.upload._Pipeline`` and ``jobs.tee``), and buffers are only held by work
that finishes without waiting for another upload, which is why waiting cannot deadlock.

A worker process runs one job at a time, so the process's budget is also the job's.
A single buffer larger than the whole budget is still granted when nothing else is held,
so an upload always makes progress; the bound is then that one buffer.

Released buffers are kept for reuse (a fresh 20 MiB buffer costs page faults and zeroing
on every chunk) while any upload still runs, within the budget, and dropped by ``trim``
when the last one finished, so an idle worker does not keep them.
"""

from __future__ import annotations

import contextlib
import threading
import time

from recording_storage.waits import Mark

MiB = 1024 * 1024
DEFAULT_CAPACITY = 160 * MiB  # dracoon.uploadMemory: 8 chunks of the default 20 MiB


class ChunkBudget:
    """Bytes of chunk buffers the uploads of one process may hold at once."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._cond = threading.Condition()
        self._capacity = max(1, int(capacity))
        self._held = 0
        self._spare: list[bytearray] = []  # released, kept for reuse
        self.peak = 0  # most bytes held at once since the last ``reset_peak``
        self.waits = 0  # acquisitions that had to wait for memory (back-pressure)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def held(self) -> int:
        with self._cond:
            return self._held

    def resize(self, capacity: int) -> None:
        with self._cond:
            self._capacity = max(1, int(capacity))
            self._drop_spares(keep=self._capacity - self._held)
            self._cond.notify_all()

    def acquire(
        self, length: int, *, until: Mark | None = None, deadline: float | None = None
    ) -> bytearray | None:
        """A buffer of ``length`` bytes, once the budget allows; ``None`` when ``until``
        passed first (its signal changed or was cancelled: the caller has something else
        to see to) or at ``deadline`` (``time.monotonic()``)."""
        length = max(1, int(length))
        waited = False
        with contextlib.ExitStack() as stack:
            if until is not None:
                stack.enter_context(until.wakes(self._cond))
            with self._cond:
                while self._held and self._held + length > self._capacity:
                    if until is not None and until.passed:
                        return None
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return None
                    waited = True
                    self._cond.wait(remaining)
                self.waits += waited
                self._held += length
                self.peak = max(self.peak, self._held)
                buffer = self._reuse(length)
                if buffer is None:
                    self._drop_spares(keep=self._capacity - self._held)
        return buffer if buffer is not None else bytearray(length)

    def release(self, buffer: bytearray) -> None:
        """Give back a buffer from ``acquire`` (its chunk was acknowledged or abandoned)."""
        with self._cond:
            self._held -= len(buffer)
            spare = sum(len(b) for b in self._spare)
            if self._held + spare + len(buffer) <= self._capacity:
                self._spare.append(buffer)
            self._cond.notify_all()

    def trim(self) -> None:
        """Drop the kept buffers when no upload holds any (the last one finished)."""
        with self._cond:
            if not self._held:
                self._spare.clear()

    def reset_peak(self) -> None:
        with self._cond:
            self.peak = self._held
            self.waits = 0

    def _reuse(self, length: int) -> bytearray | None:
        for index, buffer in enumerate(self._spare):
            if len(buffer) == length:
                return self._spare.pop(index)
        return None

    def _drop_spares(self, keep: int) -> None:
        while self._spare and sum(len(b) for b in self._spare) > max(0, keep):
            self._spare.pop(0)


_PROCESS_BUDGET = ChunkBudget()


def process_budget() -> ChunkBudget:
    """The budget shared by every upload of this process (one per worker)."""
    return _PROCESS_BUDGET


def set_upload_memory(capacity: int) -> None:
    """Size this process's budget (``dracoon.uploadMemory``; the client pool calls it)."""
    _PROCESS_BUDGET.resize(capacity)
