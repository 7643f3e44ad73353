"""A cancelled job reports its failure only after the chunks it sent were answered.

Since 468e49e the upload pipeline waits on signals instead of 0.2 s polls, and a cancel
wakes it at once. Waking at once must not mean leaving at once: DRACOON appends every
classic chunk it receives, so a chunk still on its way when the job says "failed" (and
the next delivery starts on a new channel) or when the channel is cancelled could land
in a channel that no longer exists, or be all that keeps the channel open. Here every
chunk answer is held back by a proxy for a while (the chunk itself reaches DRACOON at
once), the job's outer cancel -- a ``threading.Event`` as in the CLI, and the worker's
``multiprocessing.Event`` that no one can subscribe to -- is set while a chunk is in
flight, and the test checks, over real HTTP:

* the job fails as cancelled (retryable), and only after every chunk it sent was answered;
* the upload channel is cancelled (DELETE) only after those answers;
* no file and no open channel are left, the S3 object is kept;
* the next delivery puts exactly one correct file into each room.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time

import pytest

from recording_storage.jobs.runner import JobError
from tests.jobs.conftest import CHUNK, DOMAIN, readme_message
from tests.support import hostile_server as h

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CHUNK_PATH = r"^/api/v4/uploads/[^/]+$"  # classic: POST = a chunk, DELETE = cancel channel
HOLD_SECONDS = 1.5  # how long each chunk answer is held back after DRACOON stored it


class Timeline:
    """When each chunk answer and channel cancel passed the proxy (time.monotonic), by
    channel (the upload URL's path)."""

    def __init__(self, proxy: h.HostileServer) -> None:
        self.lock = threading.Lock()
        self.chunk_sent: list[tuple[str, float]] = []  # reached DRACOON (answer held)
        self.chunk_answered: list[tuple[str, float]] = []
        self.channel_cancelled: list[tuple[str, float]] = []
        self.first_chunk = threading.Event()
        self._path = threading.local()  # the path of the request this handler thread serves
        rule_for = proxy._rule_for

        def rule_for_and_path(method: str, path: str):
            self._path.value = path
            return rule_for(method, path)

        proxy._rule_for = rule_for_and_path  # type: ignore[method-assign]

    def held_chunk_answer(self) -> h.Action:
        def action(upstream, _query):
            path = self._path.value
            with self.lock:
                self.chunk_sent.append((path, time.monotonic()))
            self.first_chunk.set()
            time.sleep(HOLD_SECONDS)
            with self.lock:
                self.chunk_answered.append((path, time.monotonic()))
            return upstream

        action.needs_upstream = True  # type: ignore[attr-defined]
        return action

    def recorded_cancel(self) -> h.Action:
        def action(upstream, _query):
            with self.lock:
                self.channel_cancelled.append((self._path.value, time.monotonic()))
            return upstream

        action.needs_upstream = True  # type: ignore[attr-defined]
        return action


@pytest.fixture
def dracoon(world):
    """The instance's DRACOON is the emulator behind the hostile proxy (chunks included)."""
    with h.HostileServer(world.emulator.base_url, keep_host=True) as proxy:
        world.set_instance(DOMAIN, **{"recordings.dracoon.base-url": proxy.url + "/api/v4"})
        yield proxy
        for runner in world.runners:  # while the proxy still answers their token revocation
            runner.close()
        world.runners.clear()


def _message(world, key: str, rooms: list[str]) -> str:
    return json.dumps(
        readme_message(bucket=world.bucket.name, keys=[key], targets=[{"path": p} for p in rooms])
    )


@pytest.mark.parametrize("outer", ["threading", "multiprocessing"])
@pytest.mark.parametrize("rooms", [["rec"], ["rec", "rec2"]], ids=["one-room", "read-once"])
def test_a_cancel_reports_failure_only_after_every_sent_chunk_was_answered(
    world, dracoon, outer, rooms
):
    key = "rec/cancelled.mp4"
    data = os.urandom(4 * CHUNK + 5)
    world.bucket.put(key, data)
    runner = world.runner()
    timeline = Timeline(dracoon)
    dracoon.add(h.Rule(CHUNK_PATH, timeline.held_chunk_answer(), method="POST"))
    dracoon.add(h.Rule(CHUNK_PATH, timeline.recorded_cancel(), method="DELETE"))
    cancel = threading.Event() if outer == "threading" else multiprocessing.Event()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = runner.run(_message(world, key, rooms), job_id="c-1", cancel=cancel)
        except BaseException as exc:
            outcome["error"] = exc
        outcome["returned"] = time.monotonic()

    job = threading.Thread(target=run, name="cancelled-job")
    job.start()
    assert timeline.first_chunk.wait(60), "no chunk was ever sent"
    cancel.set()
    job.join(120)
    assert not job.is_alive(), "the cancelled job never returned"

    error = outcome.get("error")
    assert isinstance(error, JobError) and error.retryable, outcome
    assert "cancelled" in str(error), error
    with timeline.lock:
        sent, answered = list(timeline.chunk_sent), list(timeline.chunk_answered)
        cancelled = list(timeline.channel_cancelled)
    assert sent and len(answered) == len(sent), (sent, answered)
    last_answer = max(at for _, at in answered)
    assert outcome["returned"] >= last_answer, "the job failed with a chunk still in flight"
    assert {path for path, _ in cancelled} == {path for path, _ in sent}, (sent, cancelled)
    for channel, cancelled_at in cancelled:
        assert all(at <= cancelled_at for path, at in answered if path == channel), (
            "a channel was cancelled under a chunk still in flight"
        )
    assert world.bucket.exists(key)
    for room in rooms:
        assert world.files(room) == []
    assert world.open_uploads() == []

    dracoon.clear()
    result = runner.run(_message(world, key, rooms), job_id="c-2")
    for room in rooms:
        world.assert_one_correct_file(data, path=room)
    assert result.s3_deleted and not world.bucket.exists(key)


S3_PART_PATH = r"^/emulator/s3/[^/]+/\d+$"  # the emulator's presigned part URLs
MiB = 1024 * 1024


@pytest.fixture
def dracoon_s3(s3_world):
    """S3 direct uploads; DRACOON and its presigned part URLs behind the hostile proxy."""
    with h.HostileServer(s3_world.emulator.base_url, keep_host=True) as proxy:
        s3_world.set_instance(DOMAIN, **{"recordings.dracoon.base-url": proxy.url + "/api/v4"})
        yield proxy
        for runner in s3_world.runners:
            runner.close()
        s3_world.runners.clear()


def _token(path: str) -> str:
    """The channel a part PUT (``/emulator/s3/<token>/<n>``) or a cancel
    (``/api/v4/uploads/<token>``) belongs to."""
    parts = path.strip("/").split("/")
    return parts[2] if parts[0] == "emulator" else parts[-1]


def test_a_cancel_during_parallel_s3_parts_waits_for_every_part_in_flight(s3_world, dracoon_s3):
    world, key = s3_world, "rec/cancelled-s3.mp4"
    data = os.urandom(5 * MiB + 5)  # two parts, sent at the same time (two senders)
    world.bucket.put(key, data)
    runner = world.runner()
    timeline = Timeline(dracoon_s3)
    dracoon_s3.add(h.Rule(S3_PART_PATH, timeline.held_chunk_answer(), method="PUT"))
    dracoon_s3.add(h.Rule(CHUNK_PATH, timeline.recorded_cancel(), method="DELETE"))
    cancel = threading.Event()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = runner.run(world.message(key), job_id="s-1", cancel=cancel)
        except BaseException as exc:
            outcome["error"] = exc
        outcome["returned"] = time.monotonic()

    job = threading.Thread(target=run, name="cancelled-s3-job")
    job.start()
    assert timeline.first_chunk.wait(60), "no part was ever sent"
    cancel.set()
    job.join(120)
    assert not job.is_alive(), "the cancelled job never returned"

    error = outcome.get("error")
    assert isinstance(error, JobError) and error.retryable and "cancelled" in str(error), outcome
    with timeline.lock:
        sent, answered = list(timeline.chunk_sent), list(timeline.chunk_answered)
        cancelled = list(timeline.channel_cancelled)
    assert sent and len(answered) == len(sent), (sent, answered)
    assert outcome["returned"] >= max(at for _, at in answered), "failed with a part in flight"
    assert {_token(p) for p, _ in cancelled} == {_token(p) for p, _ in sent}, (sent, cancelled)
    for channel, cancelled_at in cancelled:
        assert all(at <= cancelled_at for p, at in answered if _token(p) == _token(channel))
    assert world.bucket.exists(key) and world.files() == [] and world.open_uploads() == []

    dracoon_s3.clear()
    result = runner.run(world.message(key), job_id="s-2")
    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists(key)
