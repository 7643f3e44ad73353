"""The deadline thread is woken only by a call due before it would look anyway (75586e5):
no call may be missed because of that, whatever the threads do at the same time.

Many threads arm call deadlines at once -- most due late and ending at once (a warm job's
calls), some due soon and left running -- while the thread sleeps towards a long deadline.
A call due soon whose ``add`` did not wake the thread (say, because the thread was between
looking at its heap and going to sleep) would fire only at that long deadline. Every short
deadline must fire close to its time, every ended call never.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from recording_storage import http_guard

pytestmark = pytest.mark.timeout(120)

THREADS = 8
CALLS_PER_THREAD = 60
LATE_SECONDS = 600.0  # what the thread sleeps towards meanwhile
SLACK_SECONDS = 2.0  # a loaded machine's scheduling; a missed wake-up is ~600 s late


class _TimedWatch(http_guard.CallWatch):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.fired_at: float | None = None

    def fire(self) -> None:
        if self.fired_at is None and not self._done:
            self.fired_at = time.monotonic()
        super().fire()


def test_no_short_deadline_is_missed_while_many_calls_come_and_go(monkeypatch):
    reaper = http_guard._Reaper()
    monkeypatch.setattr(http_guard, "_reaper", reaper)
    anchor = _TimedWatch(LATE_SECONDS)  # a long call in flight for the whole test
    reaper.add(anchor)
    short: list[_TimedWatch] = []
    ended: list[_TimedWatch] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def calls(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(CALLS_PER_THREAD):
            if rng.random() < 0.15:  # a call due soon, still running at its deadline
                watch = _TimedWatch(0.05 + rng.random() * 0.5)
                reaper.add(watch)
                with lock:
                    short.append(watch)
            else:  # a call due late that ends at once
                watch = _TimedWatch(30 + rng.random() * 60)
                reaper.add(watch)
                watch.finish()
                reaper.finished()
                with lock:
                    ended.append(watch)
            if rng.random() < 0.3:
                time.sleep(rng.random() * 0.003)

    threads = [threading.Thread(target=calls, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert short, "no short call was made"
    last_due = max(watch.expires_at for watch in short)
    while time.monotonic() < last_due + SLACK_SECONDS and any(w.fired_at is None for w in short):
        time.sleep(0.05)

    late = [
        (round(w.seconds, 3), None if w.fired_at is None else round(w.fired_at - w.expires_at, 3))
        for w in short
        if w.fired_at is None or w.fired_at > w.expires_at + SLACK_SECONDS
    ]
    assert not late, f"{len(late)} of {len(short)} short deadlines missed: {late[:5]}"
    assert all(w.fired_at is None and not w.expired for w in ended)
    assert anchor.fired_at is None
    for watch in [*short, anchor]:
        watch.finish()
        reaper.finished()
