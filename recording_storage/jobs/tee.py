"""Read an S3 object once for several uploads: one shared chunk, one stream per target.

A recording that goes to three rooms needs three encrypted uploads (each with its own file
key), but its bytes only once from S3. ``SharedSource`` reads the object chunk by chunk
into one shared buffer; each target reads it through its own ``branch()`` stream and copies
it into its upload's buffers, where it is encrypted with that target's key.

The branches move in lockstep: the next chunk is fetched (by whichever branch first needs
it, in that branch's reading thread) only when every open branch has consumed the current
one, so the shared part of memory is one chunk whatever the object size or the number of
targets. A branch that is closed (its upload failed or finished) drops out and no longer
holds the others back. A failed S3 read fails every branch still reading; nothing else a
branch does (its upload failing) affects the others.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from recording_storage.aws.s3 import ObjectInfo, RangedObjectReader, S3Error
from recording_storage.workers.work_progress import advance as record_progress


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
        self._reader = RangedObjectReader(s3, info, chunk_size, read_ahead=False, deadline=deadline)
        self._buffer = bytearray(max(1, min(chunk_size, info.size)))
        self._start = 0  # object offset of the shared buffer's first byte
        self._length = 0  # valid bytes in the shared buffer
        self._fetching = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._positions: dict[int, int] = {}
        self.branches = [_Branch(self, index) for index in range(branches)]
        for index in range(branches):
            self._positions[index] = 0
        self.chunks_fetched = 0

    def branch(self, index: int) -> _Branch:
        return self.branches[index]

    # -- called by branches -----------------------------------------------------------------

    def _read(self, index: int, target: memoryview) -> int:
        with self._cond:
            while True:
                if self._error is not None:
                    retryable = getattr(self._error, "retryable", True)
                    raise S3Error(str(self._error), retryable=retryable)
                position = self._positions[index]
                end = self._start + self._length
                if position >= self.info.size:
                    return 0
                if self._start <= position < end:
                    count = min(target.nbytes, end - position)
                    offset = position - self._start
                    break
                if not self._fetching and all(p >= end for p in self._positions.values()):
                    self._fetching = True
                    fetch_from = end
                    count = -1
                    break
                self._cond.wait()
        if count < 0:
            self._fetch(fetch_from)
            return self._read(index, target)
        # Copy outside the lock: the buffer is only refilled once every open branch
        # (this one included) has moved past it.
        target[:count] = memoryview(self._buffer)[offset : offset + count]
        with self._cond:
            self._positions[index] = position + count
            if self._positions[index] >= end:
                self._cond.notify_all()
        return count

    def _fetch(self, start: int) -> None:
        length = min(len(self._buffer), self.info.size - start)
        view = memoryview(self._buffer)[:length]
        error: BaseException | None = None
        got = 0
        try:
            while got < length:
                count = self._reader.readinto(view[got:])
                if not count:
                    raise S3Error(f"{self.info.location} ended after {start + got} bytes")
                got += count
                record_progress()  # a slow S3 read is slow, not hung (workers.master)
        except BaseException as exc:
            error = exc
        with self._cond:
            self._fetching = False
            if error is not None:
                self._error = error
            else:
                self._start, self._length = start, length
                self.chunks_fetched += 1
            self._cond.notify_all()

    def _close_branch(self, index: int) -> None:
        with self._cond:
            self._positions.pop(index, None)
            if not self._positions:
                self._reader.close()
            self._cond.notify_all()


class _Branch(io.RawIOBase):
    """One target's view of the shared source: a readable, non-seekable file object."""

    def __init__(self, shared: SharedSource, index: int) -> None:
        super().__init__()
        self._shared = shared
        self._index = index

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.closed:
            raise ValueError(f"branch {self._index} of {self._shared.info.location} is closed")
        target = memoryview(buffer).cast("B")
        if not target.nbytes:
            return 0
        return self._shared._read(self._index, target)

    def close(self) -> None:
        if not self.closed:
            self._shared._close_branch(self._index)
        super().close()
