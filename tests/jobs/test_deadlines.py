"""Unit tests of the job budget (recording_storage/deadlines.py) and of JSON/size limits in
recording_storage/http_guard.py that need no server."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from recording_storage import deadlines, http_guard


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_budget_is_set_by_time_by_the_outer_event_or_by_set():
    clock, outer = Clock(), threading.Event()
    budget = deadlines.JobBudget(10, outer=outer, clock=clock)
    assert not budget.is_set() and budget.stop_reason() is None and budget.remaining() == 10
    clock.now += 10
    assert budget.is_set() and budget.expired and not budget.cancelled
    assert budget.stop_reason() == "past its deadline of 10s"
    budget.extend_to(30)  # the job's size became known: 20 s left
    assert not budget.is_set() and budget.remaining() == 20
    budget.extend_to(5)  # never shortens
    assert budget.seconds == 30
    outer.set()
    assert budget.is_set() and budget.cancelled and budget.stop_reason() == "cancelled"
    other = deadlines.JobBudget(10, clock=clock)
    other.set()
    assert other.is_set() and other.stop_reason() == "cancelled"


def test_budget_wait_returns_at_the_deadline():
    budget = deadlines.JobBudget(0.05)
    assert budget.wait(5) is True
    assert deadlines.JobBudget(60).wait(0.01) is False


def test_the_current_budget_reaches_worker_threads_only_when_carried():
    budget = deadlines.JobBudget(60)
    with deadlines.job_budget(budget), ThreadPoolExecutor(2) as pool:
        assert deadlines.current_budget() is budget
        assert pool.submit(deadlines.current_budget).result() is None
        carried = pool.submit(deadlines.carry_context(deadlines.current_budget)).result()
        assert carried is budget
    assert deadlines.current_budget() is None and deadlines.remaining_seconds() is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty body"),
        (b"<!DOCTYPE html><html>secret-ish</html>", "an HTML page"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 50 + b"]" * 50, "nested deeper than 32"),
        (b"[" * 200_000 + b"]" * 200_000, "nested deeper than 32"),
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "nested deeper than 32"),
    ],
)
def test_decode_json_refuses_without_echoing(data, message):
    with pytest.raises(http_guard.AnswerNotJson) as info:
        http_guard.decode_json(data)
    assert message in str(info.value) and "secret-ish" not in str(info.value)


def test_decode_json_accepts_the_allowed_depth():
    assert http_guard.decode_json(b"[" * 32 + b"]" * 32) is not None


def test_an_expired_watch_refuses_new_attempts_and_never_touches_a_finished_call():
    watch = http_guard.CallWatch(0)
    with pytest.raises(http_guard.CallDeadlineExceeded):
        watch.attach(object())  # type: ignore[arg-type]
    late = http_guard.CallWatch(60)
    late.finish()
    late.fire()  # after its call ended: nothing to shut down, nothing expired
    assert late.expired is False


def test_the_reaper_shuts_down_the_attached_socket_and_spares_a_released_one():
    import socket
    from types import SimpleNamespace

    ours, server = socket.socketpair()
    other, other_server = socket.socketpair()
    try:
        attached, released = SimpleNamespace(sock=ours), SimpleNamespace(sock=other)
        with http_guard.call_deadline(0.2) as watch:
            watch.attach(attached)  # type: ignore[arg-type]
            ours.settimeout(30)
            assert ours.recv(1) == b""  # a blocked read ends at the deadline, not after 30 s
            assert watch.expired
        with http_guard.call_deadline(0.2) as watch:
            watch.attach(released)  # type: ignore[arg-type]
            watch.detach(released)  # back to the pool: no longer this call's to touch
            assert deadlines.JobBudget(0.4).wait(5)  # let the deadline pass
            other_server.sendall(b"x")
            other.settimeout(5)
            assert other.recv(1) == b"x"
    finally:
        for sock in (ours, server, other, other_server):
            sock.close()


def test_the_reaper_is_not_woken_by_calls_that_end_or_come_due_later(monkeypatch):
    """A warm job's calls (each due later than the one before) cost no thread switch; a call
    due sooner than the one the thread sleeps towards still wakes it, and ends on time."""
    import socket

    reaper = http_guard._Reaper()
    monkeypatch.setattr(http_guard, "_reaper", reaper)
    with http_guard.call_deadline(60):
        pass  # starts the thread, which then sleeps (towards this deadline or its idle time)
    for _ in range(500):
        if reaper._wake_at:
            break
        time.sleep(0.01)
    assert reaper._wake_at > time.monotonic() + 30
    wakes: list[bool] = []
    notify = reaper._cond.notify
    monkeypatch.setattr(reaper._cond, "notify", lambda n=1: (wakes.append(True), notify(n)))
    for _ in range(3 * reaper.PRUNE_AT):
        with http_guard.call_deadline(60):
            pass
    assert wakes == []  # not even when pruning empties the heap
    assert len(reaper._heap) <= reaper.PRUNE_AT + 1  # finished watches do not pile up
    ours, server = socket.socketpair()
    try:
        with http_guard.call_deadline(0.2) as watch:  # due before everything in the heap
            watch.attach(SimpleNamespace(sock=ours))  # type: ignore[arg-type]
            ours.settimeout(30)
            assert ours.recv(1) == b""  # shut down at the deadline, not after 30 s
            assert watch.expired
        assert wakes == [True]
    finally:
        ours.close()
        server.close()


def test_the_reaper_thread_ends_once_idle_and_starts_again(monkeypatch):
    reaper = http_guard._Reaper()
    monkeypatch.setattr(http_guard, "_reaper", reaper)
    monkeypatch.setattr(http_guard, "IDLE_EXIT_SECONDS", 0.2)
    with http_guard.call_deadline(0.3):
        pass
    first = reaper._thread
    assert first is not None
    first.join(5)  # the finished watch's deadline, then the idle time
    assert not first.is_alive() and reaper._thread is None
    with http_guard.call_deadline(0.3):
        assert reaper._thread is not None and reaper._thread is not first
    reaper._thread.join(5)
