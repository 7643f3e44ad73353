"""Transfer progress for people: one live line on a terminal, plain lines everywhere else.

``recording-storage transfer`` (and ``scripts/demo.py``) pass a :class:`ProgressDisplay` as the
job runner's ``progress(done, total)`` callback. On a terminal the display rewrites one line
(``\\r``) a few times per second with bytes, rate and ETA; when the output is a file or a pipe
(CI logs, ``docker logs``) carriage returns would turn into noise, so it prints a whole line
at every 10 % step or every few seconds, whichever comes first.

The rate is measured over a sliding window rather than since the start, so the ETA follows
the current speed (a slow start or a retried chunk does not distort it for the whole run).
Nothing here knows about jobs or S3: it only sees byte counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = [
    "ProgressDisplay",
    "ProgressSnapshot",
    "RateMeter",
    "format_bytes",
    "format_duration",
    "format_progress",
]

_UNITS = ("KiB", "MiB", "GiB", "TiB")
_CLEAR_LINE = "\r\x1b[K"


def format_bytes(count: float) -> str:
    """``512 B``, ``1.5 KiB``, ``12.3 MiB``, ``1.20 GiB`` (1024-based, like the config sizes)."""
    if count < 1024:
        return f"{int(count)} B"
    value = float(count)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.2f} {unit}" if unit in ("GiB", "TiB") else f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """``0:05``, ``12:34``, ``1:02:03`` (rounded up, so an ETA never says 0:00 too early)."""
    whole = max(0, int(-(-seconds // 1)))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class ProgressSnapshot:
    done: int
    total: int
    elapsed: float
    rate: float | None  # bytes per second, None until two samples exist

    @property
    def fraction(self) -> float:
        if self.total <= 0:
            return 1.0
        return min(1.0, max(0.0, self.done / self.total))

    @property
    def eta(self) -> float | None:
        if self.done >= self.total:
            return 0.0
        if not self.rate:
            return None
        return (self.total - self.done) / self.rate


def format_progress(snapshot: ProgressSnapshot, label: str = "") -> str:
    """``transfer: 45.0 MiB of 100.0 MiB (45%), 12.3 MiB/s, ETA 0:05``."""
    parts = [
        f"{format_bytes(snapshot.done)} of {format_bytes(snapshot.total)} "
        f"({int(snapshot.fraction * 100)}%)"
    ]
    if snapshot.rate is not None:
        parts.append(f"{format_bytes(snapshot.rate)}/s")
    if snapshot.done >= snapshot.total:
        parts.append(f"done in {format_duration(snapshot.elapsed)}")
    elif snapshot.eta is not None:
        parts.append(f"ETA {format_duration(snapshot.eta)}")
    text = ", ".join(parts)
    return f"{label}: {text}" if label else text


class RateMeter:
    """Bytes per second over the last ``window`` seconds of samples."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, done: int) -> None:
        self._samples.append((now, done))
        # Keep one sample older than the window so the rate always spans the whole window.
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            return None
        return max(0.0, (d1 - d0) / (t1 - t0))


class ProgressDisplay:
    """The ``progress(done, total)`` callback that shows a transfer's progress on ``stream``.

    ``live=None`` decides by ``stream.isatty()``. Live mode redraws at most every
    ``live_interval`` seconds; plain mode prints a line when the transfer crosses a
    ``plain_step`` boundary (10 %, 20 %, ...) or ``plain_interval`` seconds after the last
    line. Both always show the final 100 %. Safe to call from several threads.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        label: str = "transfer",
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        live_interval: float = 0.2,
        plain_interval: float = 5.0,
        plain_step: float = 0.10,
        window: float = 10.0,
    ) -> None:
        self.stream = stream
        self.label = label
        self.live = _isatty(stream) if live is None else live
        self._clock = clock
        self._live_interval = live_interval
        self._plain_interval = plain_interval
        self._plain_step = plain_step
        self._meter = RateMeter(window)
        self._lock = threading.RLock()
        self._started: float | None = None
        self._last_shown: float | None = None
        self._last_step = -1
        self._line_visible = False
        self._finished = False
        self._latest: tuple[int, int] | None = None

    # -- the callback -----------------------------------------------------------------------

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            if self._finished:
                return
            now = self._clock()
            if self._started is None:
                self._started = now
            self._meter.add(now, done)
            self._latest = (done, total)
            complete = done >= total
            if self.live:
                due = self._last_shown is None or now - self._last_shown >= self._live_interval
                if due or complete:
                    self._draw(now)
            else:
                step = int(self._fraction(done, total) / self._plain_step + 1e-9)
                due = self._last_shown is None or now - self._last_shown >= self._plain_interval
                if step > self._last_step or due or complete:
                    self._print_line(now)
                    self._last_step = max(self._last_step, step)
            if complete:
                self._end()

    def finish(self) -> None:
        """End the display: the live line gets its newline; nothing more is printed after."""
        with self._lock:
            if not self._finished:
                self._end()

    def snapshot(self) -> ProgressSnapshot | None:
        with self._lock:
            if self._latest is None or self._started is None:
                return None
            done, total = self._latest
            return ProgressSnapshot(done, total, self._clock() - self._started, self._meter.rate())

    # -- living next to log lines -----------------------------------------------------------

    def clear(self) -> None:
        """Erase the live line (before someone else writes to the terminal)."""
        with self._lock:
            if self.live and self._line_visible:
                self.stream.write(_CLEAR_LINE)
                self.stream.flush()
                self._line_visible = False

    def logging_filter(self) -> logging.Filter:
        """A filter for handlers that write to the same terminal: it clears the live line
        before every record, so log lines never land in the middle of it. The line comes
        back with the next progress update."""
        display = self

        class _ClearLiveLine(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                display.clear()
                return True

        return _ClearLiveLine()

    # -- output ------------------------------------------------------------------------------

    def _text(self, now: float) -> str:
        done, total = self._latest or (0, 0)
        started = self._started if self._started is not None else now
        snapshot = ProgressSnapshot(done, total, now - started, self._meter.rate())
        return format_progress(snapshot, self.label)

    def _draw(self, now: float) -> None:
        self.stream.write(_CLEAR_LINE + self._text(now))
        self.stream.flush()
        self._line_visible = True
        self._last_shown = now

    def _print_line(self, now: float) -> None:
        self.stream.write(self._text(now) + "\n")
        self.stream.flush()
        self._last_shown = now

    def _end(self) -> None:
        if self.live and self._latest is not None:
            if not self._line_visible:
                self._draw(self._clock())
            self.stream.write("\n")
            self.stream.flush()
            self._line_visible = False
        self._finished = True

    @staticmethod
    def _fraction(done: int, total: int) -> float:
        return 1.0 if total <= 0 else min(1.0, max(0.0, done / total))


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False
