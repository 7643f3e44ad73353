"""recording_storage.progress: formatting, the rate window, live and plain output."""

from __future__ import annotations

import io
import logging

import pytest

from recording_storage.progress import (
    ProgressDisplay,
    ProgressSnapshot,
    RateMeter,
    format_bytes,
    format_duration,
    format_progress,
)

MiB = 2**20


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (100 * MiB, "100.0 MiB"),
        (int(1.2 * 2**30), "1.20 GiB"),
    ],
)
def test_format_bytes(count, text):
    assert format_bytes(count) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00"), (4.2, "0:05"), (754, "12:34"), (3723, "1:02:03")]
)
def test_format_duration_rounds_up(seconds, text):
    assert format_duration(seconds) == text


def test_format_progress_shows_rate_and_eta():
    snapshot = ProgressSnapshot(done=45 * MiB, total=100 * MiB, elapsed=4.0, rate=11 * MiB)
    assert format_progress(snapshot, "transfer") == (
        "transfer: 45.0 MiB of 100.0 MiB (45%), 11.0 MiB/s, ETA 0:05"
    )


def test_format_progress_without_rate_and_when_done():
    assert format_progress(ProgressSnapshot(0, 10, 0.0, None)) == "0 B of 10 B (0%)"
    done = format_progress(ProgressSnapshot(10, 10, 61.0, 2.0))
    assert done == "10 B of 10 B (100%), 2 B/s, done in 1:01"


def test_empty_transfer_is_complete():
    snapshot = ProgressSnapshot(0, 0, 0.0, None)
    assert snapshot.fraction == 1.0
    assert snapshot.eta == 0.0


def test_rate_meter_follows_the_recent_window():
    meter = RateMeter(window=10)
    assert meter.rate() is None
    meter.add(0, 0)
    meter.add(10, 100 * MiB)  # fast start: 10 MiB/s
    assert meter.rate() == pytest.approx(10 * MiB)
    for second in range(11, 31):  # then 1 MiB/s for 20 s
        meter.add(second, 100 * MiB + (second - 10) * MiB)
    assert meter.rate() == pytest.approx(1 * MiB, rel=0.01)


def test_rate_meter_never_negative():
    meter = RateMeter()
    meter.add(0, 50)
    meter.add(1, 10)  # a retried chunk counted again from a lower number
    assert meter.rate() == 0.0


def test_plain_mode_prints_every_ten_percent_and_the_end():
    out, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay(out, clock=clock, plain_interval=1000)
    assert display.live is False  # StringIO is not a terminal
    for done in range(0, 101):
        clock.now += 0.1
        display(done * MiB, 100 * MiB)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 11  # 0 %, 10 %, ..., 100 %
    assert lines[0].startswith("transfer: 0 B of 100.0 MiB (0%)")
    assert lines[5].startswith("transfer: 50.0 MiB of 100.0 MiB (50%), 10.0 MiB/s, ETA 0:05")
    assert lines[-1] == "transfer: 100.0 MiB of 100.0 MiB (100%), 10.0 MiB/s, done in 0:10"


def test_plain_mode_prints_on_time_when_progress_is_slow():
    out, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay(out, clock=clock, plain_interval=5)
    display(0, 1000 * MiB)
    for _ in range(20):  # 20 s at 1 MiB/s: never a 10 % step, a line every 5 s
        clock.now += 1
        display(display.snapshot().done + MiB, 1000 * MiB)
    assert len(out.getvalue().splitlines()) == 1 + 4


def test_live_mode_rewrites_one_line_and_ends_it():
    out, clock = Terminal(), FakeClock()
    display = ProgressDisplay(out, clock=clock, live_interval=1)
    assert display.live is True
    for done in range(0, 11):
        clock.now += 0.5
        display(done, 10)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r\x1b[K") == 6  # at most once a second (5 s), plus the final 100 %
    assert text.rstrip("\n").rsplit("\r\x1b[K", 1)[-1].startswith("transfer: 10 B of 10 B (100%)")


def test_finish_ends_an_unfinished_live_line_once():
    out = Terminal()
    display = ProgressDisplay(out, clock=FakeClock())
    display(1, 10)
    display.finish()
    display.finish()
    display(5, 10)  # ignored after finish
    assert out.getvalue().count("\n") == 1
    assert "(50%)" not in out.getvalue()


def test_finish_without_progress_prints_nothing():
    out = Terminal()
    ProgressDisplay(out).finish()
    assert out.getvalue() == ""


def test_logging_filter_clears_the_live_line_before_a_record():
    out, clock = Terminal(), FakeClock()
    display = ProgressDisplay(out, clock=clock, live_interval=0)
    handler = logging.StreamHandler(out)
    handler.addFilter(display.logging_filter())
    logger = logging.getLogger("tests.cli.progress")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        display(1, 10)
        logger.warning("a log line")
        clock.now += 1
        display(2, 10)
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    # The log line starts on a cleared line and the progress line is drawn again after it.
    assert "(10%)\r\x1b[Ka log line\n\r\x1b[Ktransfer: 2 B of 10 B (20%)" in text


def test_a_broken_stream_is_not_a_terminal():
    class Closed(io.StringIO):
        def isatty(self):
            raise ValueError("I/O operation on closed file")

    assert ProgressDisplay(Closed()).live is False
