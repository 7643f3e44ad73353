"""Read an S3 object once for several uploads: one shared window, one stream per target.

A recording that goes to three rooms needs three encrypted uploads (each with its own file
key), but its bytes only once from S3. ``SharedSource`` reads the object into one shared
window; each target reads it through its own ``branch()`` stream and copies it into its
upload's buffers, where it is encrypted with that target's key.

The branches move in lockstep: the window moves on (by whichever branch first needs it,
in that branch's reading thread) only when no open branch can read from it any more, so the
shared part of memory is about one chunk whatever the object size or the number of
targets. A branch that is closed (its upload failed or finished) drops out and no longer
holds the others back. A failed S3 read fails every branch still reading; nothing else a
branch does (its upload failing) affects the others.

Back-pressure without deadlock. Upload buffers come from one budget per process
(``dracoon.client.chunk_budget``), smaller than "a few chunks per target". A branch that took
a buffer and then waited here for the slowest target would hold memory the slowest target
needs to move: a deadlock. So an upload first asks ``wait_readable(n)`` - "can my next
``n`` bytes be read without waiting for another branch?" - and only then takes a buffer.
For that the window keeps what the last branch still needs and grows to the largest such
request: when the readers' chunks are aligned with the window (the usual case: one chunk
size for the job) it is one chunk; otherwise at most about two.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from typing import Any

from recording_storage.aws.s3 import ObjectInfo, RangedObjectReader, S3Error
from recording_storage.waits import Mark
from recording_storage.work_progress import advance as record_progress


class SharedSource:
    """One streaming S3 reader behind ``branches`` independent file objects."""

    def __init__(
        self,
        s3: Any,
        info: ObjectInfo,
        chunk_size: int,
        branches: int,
        *,
        deadline: float | None = None,
    ) -> None:
        self.info = info
        self.chunk_size = max(1, chunk_size)
        self._reader = RangedObjectReader(s3, info, chunk_size, deadline=deadline)
        self._buffer = bytearray(max(1, min(self.chunk_size, info.size)))
        self._start = 0  # object offset of the window's first byte
        self._length = 0  # valid bytes in the window
        self._fetching = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._positions: dict[int, int] = {index: 0 for index in range(branches)}
        # Branches waiting here: index -> (first offset they need beyond, whole range?)
        self._needs: dict[int, tuple[int, bool]] = {}
        self.branches = [_Branch(self, index) for index in range(branches)]
        self.largest_window = 0  # bytes of the largest window so far (tests, docs)

    def branch(self, index: int) -> _Branch:
        return self.branches[index]

    # -- called by branches -----------------------------------------------------------------

    def _read(self, index: int, target: memoryview) -> int:
        """Copy what the window has for branch ``index`` (at least one byte, 0 at the end)."""
        with self._cond:
            position = self._positions[index]
            if position >= self.info.size:
                return 0
            self._wait(index, position + 1, whole=False, timeout=None)
            end = self._start + self._length
            count = min(target.nbytes, end - position)
            offset = position - self._start
        # Copy outside the lock: the window only moves once no open branch can read from it,
        # and this one (not waiting, position not yet advanced) still can.
        target[:count] = memoryview(self._buffer)[offset : offset + count]
        with self._cond:
            self._positions[index] = position + count
            self._cond.notify_all()
        return count

    def _wait_readable(
        self, index: int, nbytes: int, timeout: float | None, until: Mark | None
    ) -> bool:
        """True when branch ``index`` can read its next ``nbytes`` (fewer at the object's
        end) without waiting for another branch; False after ``timeout`` seconds or once
        ``until`` passed (the waiting upload has something else to see to)."""
        with contextlib.ExitStack() as stack:
            if until is not None:
                stack.enter_context(until.wakes(self._cond))
            with self._cond:
                position = self._positions[index]
                need = min(self.info.size, position + max(1, nbytes))
                if position >= self.info.size:
                    return True
                return self._wait(index, need, whole=True, timeout=timeout, until=until)

    def _close_branch(self, index: int) -> None:
        with self._cond:
            self._positions.pop(index, None)
            self._needs.pop(index, None)
            if not self._positions:
                self._reader.close()
            self._cond.notify_all()

    # -- the window -------------------------------------------------------------------------

    def _wait(
        self,
        index: int,
        need: int,
        *,
        whole: bool,
        timeout: float | None,
        until: Mark | None = None,
    ) -> bool:
        """With the lock held: wait until the window holds ``[position, need)`` (``whole``)
        or at least ``position``; fetch when this branch is the one to move the window.
        False at ``timeout`` or once ``until`` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._needs[index] = (need, whole)
        try:
            while True:
                self._raise_failure()
                if not self._fetching and self._served(index):
                    return True
                if not self._fetching and self._window_is_spent():
                    self._move_window()  # drops and retakes the lock while it reads S3
                    continue
                if until is not None and until.passed:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        finally:
            self._needs.pop(index, None)

    def _served(self, index: int) -> bool:
        position = self._positions[index]
        need, whole = self._needs[index]
        end = self._start + self._length
        if position < self._start:  # cannot happen: the window keeps every open position
            return False
        return need <= end if whole else position < end

    def _window_is_spent(self) -> bool:
        """No open branch can read from the window any more: every one has passed its end or
        waits here for bytes beyond it."""
        end = self._start + self._length
        for index, position in self._positions.items():
            if position >= self.info.size:
                continue
            if index in self._needs:
                if self._served(index):
                    return False
            elif position < end:
                return False  # it may still read (it was told it can, or reads in pieces)
        return any(p < self.info.size for p in self._positions.values())

    def _move_window(self) -> None:
        """Keep what the last branch still needs, read on from S3 until every waiting branch
        is served (at least one chunk further). Called and returns with the lock held."""
        end = self._start + self._length
        open_positions = [p for p in self._positions.values() if p < self.info.size]
        new_start = min(open_positions)
        wanted = [need for need, _ in self._needs.values()]
        new_end = min(self.info.size, max(end, new_start + self.chunk_size, *wanted))
        keep = end - new_start
        size = new_end - new_start
        if size > len(self._buffer):
            grown = bytearray(size)
            grown[:keep] = memoryview(self._buffer)[new_start - self._start : end - self._start]
            self._buffer = grown
        elif keep:
            view = memoryview(self._buffer)
            view[:keep] = view[new_start - self._start : end - self._start]
        self._fetching = True
        self._cond.release()
        error: BaseException | None = None
        try:
            self._fill(memoryview(self._buffer)[keep:size], end)
        except BaseException as exc:
            error = exc
        finally:
            self._cond.acquire()
        self._fetching = False
        if error is not None:
            self._error = error
        else:
            self._start, self._length = new_start, size
            self.largest_window = max(self.largest_window, size)
        self._cond.notify_all()

    def _fill(self, view: memoryview, start: int) -> None:
        got = 0
        while got < len(view):
            count = self._reader.readinto(view[got:])
            if not count:
                raise S3Error(f"{self.info.location} ended after {start + got} bytes")
            got += count
            record_progress()  # a slow S3 read is slow, not hung (workers.master)

    def _raise_failure(self) -> None:
        if self._error is not None:
            # The reader raises S3Error (which knows); anything else broke the read itself
            # (a reset, a closed reader): worth another delivery.
            error = self._error
            retryable = error.retryable if isinstance(error, S3Error) else True
            raise S3Error(str(error), retryable=retryable)


class _Branch(io.RawIOBase):
    """One target's view of the shared source: a readable, non-seekable file object."""

    def __init__(self, shared: SharedSource, index: int) -> None:
        super().__init__()
        self._shared = shared
        self._index = index

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError(f"branch {self._index} of {self._shared.info.location} is closed")
        target = memoryview(buffer).cast("B")
        if not target.nbytes:
            return 0
        return self._shared._read(self._index, target)

    def wait_readable(
        self, nbytes: int, timeout: float | None = None, *, until: Mark | None = None
    ) -> bool:
        """Block until the next ``nbytes`` can be read without waiting for another branch
        (the upload pipeline asks before it takes a buffer from the budget); False after
        ``timeout`` or once ``until`` passed (a change of the upload: a chunk sent, a
        cancel -- it looks at it and asks again)."""
        if self.closed:
            raise ValueError(f"branch {self._index} of {self._shared.info.location} is closed")
        return self._shared._wait_readable(self._index, nbytes, timeout, until)

    def close(self) -> None:
        if not self.closed:
            self._shared._close_branch(self._index)
        super().close()
