"""Writing ``state.json`` off the request path.

The snapshot is the whole state, so its cost grows with every node, upload and key: written
after every change, it was ~90 % of the emulator's CPU per request once a bench had run a
thousand jobs (issue 17: the bench measured the stand-in, not the service). A change now
only marks the state dirty; one writer thread writes the snapshot at most once per
``interval`` seconds, and ``flush()`` / ``close()`` write it at once (stop, reset), so a
stopped emulator's ``state.json`` holds every change, as before.

The cost of one write grows with the state, so the pause between two writes grows with
it too: at least ``interval``, and at least ``WRITING_SHARE_DIVISOR - 1`` times as long
as the last write took, so the writer spends at most about a tenth of a core on writing
however large the state gets (a long soak holds tens of thousands of nodes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("dracoon_emulator")

WRITE_INTERVAL_SECONDS = 0.5
WRITING_SHARE_DIVISOR = 10  # the writer writes for at most 1/10 of the time


class SnapshotWriter:
    """Coalesces "the state changed" into at most one ``save()`` per interval."""

    def __init__(self, save: Callable[[], None], interval: float = WRITE_INTERVAL_SECONDS) -> None:
        self._save = save
        self._interval = interval
        self._changed = threading.Condition()
        self._dirty = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()  # one writer of the temp file at a time
        self._last_write_seconds = 0.0

    def changed(self) -> None:
        """The state changed: it reaches disk after the pause (at once after close)."""
        with self._changed:
            if self._closed:
                closed = True
            else:
                closed = False
                if not self._dirty:  # a writer already waiting to write takes this change too
                    self._dirty = True
                    self._changed.notify()
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="dracoon-emulator-state-writer", daemon=True
                    )
                    self._thread.start()
        if closed:
            self.flush()

    def flush(self) -> None:
        """Write the snapshot now."""
        with self._changed:
            self._dirty = False
        self._write()

    def close(self) -> None:
        """Stop the writer thread and write what it had not written yet."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        self.flush()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._dirty and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                # Let the changes of the next moments join this write.
                pause = max(self._interval, self._last_write_seconds * (WRITING_SHARE_DIVISOR - 1))
                deadline = time.monotonic() + pause
                while not self._closed and (left := deadline - time.monotonic()) > 0:
                    self._changed.wait(left)
                if self._closed:
                    return  # close() writes
                self._dirty = False
            self._write()

    def _write(self) -> None:
        with self._write_lock:
            started = time.monotonic()
            try:
                self._save()
            except OSError as exc:
                log.error("could not persist emulator state: %s", exc)
            self._last_write_seconds = time.monotonic() - started
