"""How our client waits for DRACOON to finish an S3 direct upload (``_wait_until_done``).

Over real HTTP against the emulator: a server that keeps answering ``transfer`` for a
while, one whose first poll already says ``done``, and one that never finishes. The poll
counts come from the emulator's admin view, so "stops the moment the status is final" is
checked exactly. A few unit cases with a scripted API cover what the emulator never says
(an unknown status, ``error`` after ``finishing``).
"""

from __future__ import annotations

import io
import os
import threading
from types import SimpleNamespace

import pytest

from recording_storage.dracoon.client import (
    DracoonApiError,
    UploadCancelledError,
    UploadError,
    UploadOptions,
)
from recording_storage.dracoon.client.upload import _S3Upload
from recording_storage.waits import CancelEvent
from tests.support.emulator_fixtures import default_seed

from .conftest import admin, node_id, nodes

FAST_POLLS = UploadOptions(s3_poll_initial=0.01, s3_poll_max=0.05)


def _s3_server(emulator_factory, test_key_pairs, **knobs):
    return emulator_factory(default_seed(test_key_pairs, s3_direct=True) | knobs)


def _upload(client, server, room: str, name: str, data: bytes):
    node = client.upload(node_id(server, room), name, io.BytesIO(data), len(data))
    uploads = [u for u in admin(server, "GET", "/emulator/uploads") if u["name"] == name]
    assert len(uploads) == 1
    return node, uploads[0]


@pytest.mark.parametrize("room", ["Recordings", "Plain"])
def test_a_server_that_stays_in_transfer_is_polled_until_done_and_no_longer(
    emulator_factory, test_key_pairs, make_client, room
):
    server = _s3_server(
        emulator_factory, test_key_pairs, s3_transfer_polls=5, s3_finish_inline=True
    )
    client = make_client(server, upload_options=FAST_POLLS)
    data = os.urandom(5000)
    node, channel = _upload(client, server, room, "slow.bin", data)
    assert channel["status"] == "done" and channel["nodeId"] == node.id
    assert channel["statusPolls"] == 6  # five "transfer" answers, then "done": stop there
    out = io.BytesIO()
    client.download(node.id, out)
    assert out.getvalue() == data
    assert [n["size"] for n in nodes(server) if n["id"] == node.id] == [len(data)]


def test_a_server_that_is_done_at_once_is_polled_once(
    emulator_factory, test_key_pairs, make_client
):
    server = _s3_server(emulator_factory, test_key_pairs, s3_finish_inline=True)
    client = make_client(server, upload_options=FAST_POLLS)
    data = os.urandom(777)
    node, channel = _upload(client, server, "Plain", "quick.bin", data)
    assert channel["statusPolls"] == 1
    assert [n["size"] for n in nodes(server) if n["id"] == node.id] == [777]


def test_a_server_that_never_finishes_is_given_up_after_the_limit(
    emulator_factory, test_key_pairs, make_client
):
    server = _s3_server(emulator_factory, test_key_pairs, s3_transfer_polls=10**6)
    options = UploadOptions(s3_completion_timeout=0.3, s3_poll_initial=0.02, s3_poll_max=0.1)
    client = make_client(server, upload_options=options)
    with pytest.raises(UploadError) as info:
        client.upload(node_id(server, "Plain"), "never.bin", io.BytesIO(b"abc"), 3)
    message = str(info.value)
    assert "'never.bin' still 'transfer'" in message and "s3_completion_timeout" in message
    (channel,) = [u for u in admin(server, "GET", "/emulator/uploads") if u["name"] == "never.bin"]
    # Backoff 0.02, 0.04, 0.08, 0.1 ... within 0.3 s: a handful of polls, the last one at the
    # deadline, never a tight loop.
    assert 2 <= channel["statusPolls"] <= 8


class _ScriptedApi:
    """Answers ``GET /nodes/files/uploads/{id}`` from a list; counts the polls."""

    def __init__(self, answers: list[dict]) -> None:
        self.answers = list(answers)
        self.polls = 0

    def call(self, method: str, path: str, **_kw):
        assert (method, path) == ("GET", "/v4/nodes/files/uploads/up-1")
        self.polls += 1
        return self.answers.pop(0)


def _waiter(answers: list[dict], **options) -> tuple[_S3Upload, _ScriptedApi]:
    api = _ScriptedApi(answers)
    waiter = _S3Upload.__new__(_S3Upload)  # only the waiting part is under test here
    waiter.api = api
    waiter.options = UploadOptions(**{"s3_poll_initial": 0.001, "s3_poll_max": 0.002, **options})
    waiter.job = SimpleNamespace(name="talk.mp4", cancel=None)
    waiter.upload_id = "up-1"
    return waiter, api


def test_transfer_then_finishing_then_done_returns_the_node():
    node = {"id": 4711, "name": "talk.mp4", "type": "file", "size": 3}
    waiter, api = _waiter(
        [{"status": "transfer"}, {"status": "finishing"}, {"status": "done", "node": node}]
    )
    assert waiter._wait_until_done().id == 4711
    assert api.polls == 3


def test_error_after_finishing_raises_the_servers_error_at_once():
    waiter, api = _waiter(
        [
            {"status": "finishing"},
            {"status": "error", "errorDetails": {"code": 409, "errorCode": -41001}},
            {"status": "done"},
        ]
    )
    with pytest.raises(DracoonApiError) as info:
        waiter._wait_until_done()
    assert (info.value.status, info.value.error_code) == (409, -41001)
    assert api.polls == 2


@pytest.mark.parametrize("answer", [{"status": "paused"}, {}, {"status": None}])
def test_an_unknown_status_fails_at_once_instead_of_being_waited_out(answer):
    waiter, api = _waiter([answer, {"status": "done"}], s3_completion_timeout=600)
    with pytest.raises(UploadError) as info:
        waiter._wait_until_done()
    assert "unknown status" in str(info.value) and "'talk.mp4'" in str(info.value)
    assert api.polls == 1


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3"])
def test_the_transfer_polls_knob_is_validated(bad):
    from dracoon_emulator.seed import SeedError, parse_settings

    with pytest.raises(SeedError, match="s3_transfer_polls"):
        parse_settings({"s3_transfer_polls": bad})


def test_a_cancel_ends_the_pause_between_polls_at_once():
    """The pause between two status polls (an hour here) is no sleep a cancel must sit out:
    setting the job's cancel event ends it, and the upload stops with no further poll."""
    waiter, api = _waiter([{"status": "transfer"}] * 3, s3_poll_initial=3600, s3_poll_max=3600)
    cancel = CancelEvent()
    waiter.job = SimpleNamespace(name="talk.mp4", cancel=cancel)
    polled = threading.Event()
    call = api.call
    api.call = lambda *args, **kw: (polled.set(), call(*args, **kw))[1]
    raised: list[BaseException] = []

    def wait() -> None:
        try:
            waiter._wait_until_done()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    assert polled.wait(30)
    cancel.set()
    thread.join(30)  # bounds a hang only: without the wake-up it would pause for an hour
    assert not thread.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], UploadCancelledError)
    assert api.polls == 1
