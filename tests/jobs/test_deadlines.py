"""Unit tests of the job budget (recording_storage/deadlines.py) and of JSON/size limits in
recording_storage/http_guard.py that need no server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

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
