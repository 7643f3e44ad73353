"""Writes DRACOON may have carried out although their answer was lost (issue 13, items 1, 2
and 4): a tamper proxy between the service and the emulator forwards a request, lets the
emulator act on it, and then cuts the answer, answers 502/503/504 like a gateway, or stalls
past the client's read timeout (tests/support/fault_proxy.py, ``acted_*`` actions).

Every test asserts the final state: each file's size and content as another room member
decrypts it, whether the S3 object was kept or deleted, the job's outcome and log codes,
and that no upload channel is left open. The per-call retry rules these tests pin down are
in docs/client.md; the results are listed in docs/reliability.md.
"""

from __future__ import annotations

import io
import json
import logging
import os

import pytest

from recording_storage.aws.s3 import head_object
from recording_storage.jobs.plan import marker_for
from recording_storage.jobs.runner import JobError
from recording_storage.logcodes import LogCode
from tests.jobs.conftest import CHUNK, readme_message
from tests.support.fault_proxy import ProxyRule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CHUNK_URL = r"^/api/v4/uploads/[^/?]+$"  # classic chunk POST and completion PUT
S3_COMPLETE = r"^/api/v4/nodes/files/uploads/[^/]+/s3$"
S3_PART = r"^/emulator/s3/"
KEY = "rec/video.mp4"
TIMEOUT = "2"  # dracoon.timeoutSeconds for the stall cases (the proxy stalls 4 s)


def _lost_answer(action: str, method: str, path: str, **rule) -> ProxyRule:
    if action.startswith("acted_error_"):
        return ProxyRule("acted_error", method=method, path=path, message="upstream lost",
                         status=int(action.rsplit("_", 1)[1]), **rule)  # fmt: skip
    if action == "acted_stall":
        return ProxyRule("acted_stall", method=method, path=path, delay=4.0, **rule)
    return ProxyRule(action, method=method, path=path, **rule)


LOST_ANSWERS = ["acted_drop", "acted_error_502", "acted_error_503", "acted_error_504",
                "acted_stall"]  # fmt: skip


def _codes(caplog, code: LogCode, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if getattr(r, "code", None) == int(code) and text in r.getMessage()
    ]


def _statuses(world) -> list[str]:
    return sorted(u["status"] for u in world.admin("GET", "/emulator/uploads"))


# -- item 1: a classic chunk is never sent twice ------------------------------------------------


@pytest.mark.parametrize("action", LOST_ANSWERS)
def test_lost_answer_to_a_classic_chunk_restarts_the_upload(classic, caplog, action):
    """Chunk 2 reaches DRACOON and is stored, its answer is lost. Resending it would store
    it twice (DRACOON appends what it gets, whatever Content-Range says): a file one chunk
    too large that does not decrypt. The upload starts over on a new channel instead."""
    world = classic
    data = os.urandom(4 * CHUNK + 17)
    world.bucket.put(KEY, data)
    world.tamper.add(_lost_answer(action, "POST", CHUNK_URL, skip=1, count=1))
    caplog.set_level(logging.INFO)

    result, errors = world.run(world.runner(RS_DRACOON_TIMEOUTSECONDS=TIMEOUT),
                               world.message(KEY))  # fmt: skip

    assert errors == []
    kept = world.assert_one_correct_file(data)  # size, content as alice, no open channel
    assert kept["size"] == len(data)
    assert result.s3_deleted and not world.bucket.exists(KEY)
    assert _statuses(world) == ["cancelled", "done"]  # the interrupted channel was removed
    assert _codes(caplog, LogCode.TRANSFERER_STATUS, "starting it again on a new upload channel")


def test_a_chunk_that_keeps_losing_its_answer_fails_the_job_retryably(classic, caplog):
    """Every attempt loses chunk 2's answer: after the in-run restart the target fails as
    retryable, nothing is left in the room, the S3 object stays; the redelivery completes."""
    world = classic
    data = os.urandom(3 * CHUNK + 5)
    world.bucket.put(KEY, data)
    rule = world.tamper.add(_lost_answer("acted_error_502", "POST", CHUNK_URL, skip=1))[0]
    runner = world.runner()

    with pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="lossy")

    assert failure.value.retryable
    assert KEY in str(failure.value) and "uploaded again from its first byte" in str(failure.value)
    assert world.files() == [] and world.open_uploads() == []
    assert world.bucket.exists(KEY)
    assert _codes(caplog, LogCode.AMAZON_TO_DRACOON_ERROR, "HTTP 502")
    rule.count = rule.fired  # the gateway recovers
    result = runner.run(world.message(KEY), job_id="lossy-again")
    world.assert_one_correct_file(data)
    assert result.s3_deleted


@pytest.mark.parametrize("action", ["acted_drop", "acted_error_502", "acted_stall"])
def test_lost_answer_to_the_classic_completion_finds_the_file(classic, caplog, action):
    """The completion created the file; its answer is lost. Repeating it would meet a closed
    channel (404) -- the job looks for the file instead and takes it."""
    world = classic
    data = os.urandom(2 * CHUNK + 3)
    world.bucket.put(KEY, data)
    world.tamper.add(_lost_answer(action, "PUT", CHUNK_URL, count=1))
    caplog.set_level(logging.INFO)

    result, errors = world.run(world.runner(RS_DRACOON_TIMEOUTSECONDS=TIMEOUT),
                               world.message(KEY))  # fmt: skip

    assert errors == []
    world.assert_one_correct_file(data)
    assert result.s3_deleted
    assert world.tamper.count("PUT", CHUNK_URL) == 1  # never repeated
    assert _statuses(world) == ["done"]
    assert _codes(caplog, LogCode.TRANSFERER_STATUS, "but the file is complete in the room")


def test_several_targets_one_chunk_lost_in_one_of_them(classic):
    """Read once for three rooms; one room's chunk answer is lost: that room is uploaded
    again (a fresh S3 read), the other two are not disturbed."""
    world = classic
    data = os.urandom(4 * CHUNK)
    world.bucket.put(KEY, data)
    body = json.dumps(readme_message(bucket=world.bucket.name, keys=[KEY],
                                     targets=[{"path": p} for p in ("a", "b", "c")]))  # fmt: skip
    world.tamper.add(_lost_answer("acted_drop", "POST", CHUNK_URL, skip=4, count=1))

    result, errors = world.run(world.runner(), body)

    assert errors == []
    for path in ("a", "b", "c"):
        world.assert_one_correct_file(data, path=path)
    assert result.s3_deleted


def test_lost_answer_to_a_channel_creation_leaves_one_unnamed_channel(classic):
    """DRACOON opened the channel, the answer is lost: the client does not ask again (a
    second channel), the job starts over on a new one. The first channel cannot be named,
    so it cannot be cancelled: it stays open until DRACOON expires it, and never becomes a
    file."""
    world = classic
    data = os.urandom(2 * CHUNK + 1)
    world.bucket.put(KEY, data)
    world.tamper.add(_lost_answer("acted_drop", "POST", r"^/api/v4/nodes/files/uploads$",
                                  count=1))  # fmt: skip

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    files = world.files()
    assert len(files) == 1 and world.download_as("alice", files[0]["id"]) == data
    assert result.s3_deleted
    assert _statuses(world) == ["done", "transfer"]  # the orphan, documented in client.md


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", r"^/api/v4/nodes/rooms$"), ("POST", r"^/api/v4/nodes/files/keys$")],
    ids=["room-creation", "file-keys"],
)
def test_lost_answer_to_a_repeatable_write_is_simply_repeated(classic, method, path):
    """Room creation (a repeat gets 409 and looks the room up) and setting file keys (users
    who have a key are skipped) may be sent again after their answer was lost."""
    world = classic
    data = os.urandom(CHUNK + 1)
    world.bucket.put(KEY, data)
    world.tamper.add(_lost_answer("acted_error_502", method, path, count=1))

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    world.assert_one_correct_file(data)  # alice decrypts: her key was set
    assert [n["path"] for n in world.nodes() if n["path"] == "/Recordings/rec"] == [
        "/Recordings/rec"
    ]
    assert world.tamper.count(method, path) >= 2
    assert result.s3_deleted


# -- item 1: S3 direct -------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["acted_drop", "acted_error_502", "acted_error_504",
                                    "acted_stall"])  # fmt: skip
def test_lost_answer_to_the_s3_completion_is_confirmed_not_repeated(direct, caplog, action):
    """DRACOON accepted ``PUT .../s3`` and is assembling the file; the answer is lost. The
    client asks the upload's status (``finishing``/``done``) and waits, never sending the
    completion again (a second one meets a closed channel: 404)."""
    world = direct
    data = os.urandom(300_000)
    world.bucket.put(KEY, data)
    world.tamper.add(_lost_answer(action, "PUT", S3_COMPLETE, count=1))

    result, errors = world.run(world.runner(RS_DRACOON_TIMEOUTSECONDS=TIMEOUT),
                               world.message(KEY))  # fmt: skip

    assert errors == []
    world.assert_one_correct_file(data)
    assert result.s3_deleted
    assert world.tamper.count("PUT", S3_COMPLETE) == 1
    assert _statuses(world) == ["done"]


@pytest.mark.parametrize("status", [429, 503])
def test_an_s3_completion_refused_before_it_was_carried_out_is_sent_again(direct, status):
    """The gateway refuses ``PUT .../s3`` without forwarding it. 429 is retried by the
    transport; after the 503 the upload's status is still ``transfer`` (not accepted), so
    sending it once more is safe."""
    world = direct
    data = os.urandom(200_000)
    world.bucket.put(KEY, data)
    world.tamper.add(ProxyRule("error", method="PUT", path=S3_COMPLETE, status=status, count=1))

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    world.assert_one_correct_file(data)
    assert result.s3_deleted
    assert world.tamper.count("PUT", S3_COMPLETE) == 2
    assert _statuses(world) == ["done"]


@pytest.mark.parametrize("action", ["acted_drop", "acted_error_502", "acted_stall"])
def test_lost_answer_to_a_presigned_part_put_is_retried(direct, action):
    """A part PUT is idempotent (the same part number replaces the part): it is simply sent
    again, and the file is still exactly the recording."""
    world = direct
    data = os.urandom(6 * 1024 * 1024 + 11)  # two parts: 5 MiB + the rest
    world.bucket.put(KEY, data)
    world.tamper.add(_lost_answer(action, "PUT", S3_PART, count=1))

    result, errors = world.run(world.runner(RS_DRACOON_TIMEOUTSECONDS=TIMEOUT),
                               world.message(KEY))  # fmt: skip

    assert errors == []
    world.assert_one_correct_file(data)
    assert result.s3_deleted
    assert world.tamper.count("PUT", S3_PART) == 3  # two parts, one of them twice
    assert _statuses(world) == ["done"]


# -- item 2: verification before a file counts as done -----------------------------------------


def _plant_copy(world, data: bytes, content: bytes, path: str = "rec") -> int:
    """Put a file carrying the job's marker (as an earlier delivery would) into the room."""
    info = head_object(world.bucket.client, world.bucket.name, KEY)
    assert info.size == len(data)
    with world.client_as("service") as client:
        room = client.resolve_room_path(world.node("/Recordings")["id"], path)
        node = client.upload(room.id, "video.mp4", io.BytesIO(content), len(content),
                             notes=marker_for(info))  # fmt: skip
        client.distribute_missing_keys(file_id=node.id)
    return node.id


@pytest.mark.parametrize("damage", ["one-chunk-twice", "cut-short"])
def test_a_broken_earlier_copy_is_replaced_not_reused(classic, caplog, damage):
    """An earlier delivery left a file with the marker but the wrong size (a chunk stored
    twice, or cut short). Today's redelivery reuses it and deletes the recording from S3;
    it must be deleted and the recording uploaded again."""
    world = classic
    data = os.urandom(3 * CHUNK + 9)
    world.bucket.put(KEY, data)
    bad = data[:CHUNK] + data if damage == "one-chunk-twice" else data[: 2 * CHUNK]
    planted = _plant_copy(world, data, bad)

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    kept = world.assert_one_correct_file(data)
    assert kept["id"] != planted and kept["name"] == "video.mp4"
    assert [f.reused for f in result.files] == [False]
    assert result.s3_deleted
    assert _codes(caplog, LogCode.AMAZON_TO_DRACOON_ERROR, "is not a correct copy")


def test_a_correct_earlier_copy_is_reused(classic):
    world = classic
    data = os.urandom(2 * CHUNK)
    world.bucket.put(KEY, data)
    planted = _plant_copy(world, data, data)

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == [] and [f.reused for f in result.files] == [True]
    assert world.assert_one_correct_file(data)["id"] == planted
    assert result.s3_deleted


def test_a_broken_copy_of_a_vanished_recording_is_never_taken_for_done(classic):
    """The S3 object is gone and the only copy is broken: the job fails for a human (not
    retryable), and the broken file is left for inspection -- it is all that remains."""
    world = classic
    data = os.urandom(2 * CHUNK)
    world.bucket.put(KEY, data)
    planted = _plant_copy(world, data, data + b"extra")
    world.bucket.client.delete_object(Bucket=world.bucket.name, Key=KEY)

    with pytest.raises(JobError) as failure:
        world.runner().run(world.message(KEY), job_id="vanished")

    assert not failure.value.retryable
    assert "not correct" in str(failure.value) and str(planted) in str(failure.value)
    assert [f["id"] for f in world.files()] == [planted]


@pytest.mark.parametrize("loaded", [False, True], ids=["quiet", "loaded"])
def test_fifty_targets_never_leave_an_oversized_or_broken_file(classic, loaded):
    """One key, 50 target rooms, read once and uploaded in parallel. ``loaded``: 5 % of the
    chunk answers come later than the client's read timeout (the emulator delays them
    before it stores the chunk, as a queueing server would); today's code resends those
    chunks and leaves files one chunk too large."""
    world = classic
    data = os.urandom(6 * CHUNK + 5)
    world.bucket.put(KEY, data)
    paths = [f"t{i:02d}" for i in range(50)]
    body = json.dumps(readme_message(bucket=world.bucket.name, keys=[KEY],
                                     targets=[{"path": p} for p in paths]))  # fmt: skip
    # The client's timeout is 2 s and a delayed answer comes after 3 s. With 1 s, on a busy
    # machine (4 pytest workers on 2 cores next to other work) the 95 % of undelayed answers,
    # and even connects and the cancels of restarted channels, missed it too: a channel was
    # left open (the cancel got no answer), which is not what this test is about.
    if loaded:
        world.faults({"method": "POST", "path": CHUNK_URL, "latency_ms": 3000, "rate": 0.05})

    # Each delivery may leave a few of the 50 targets for the next one (a late answer on a
    # restarted upload too, more often on a busy machine): SQS redelivers until it is done.
    result, errors = world.run(world.runner(RS_DRACOON_TIMEOUTSECONDS="2"), body, attempts=6)

    world.faults()
    sizes = {p: [f["size"] for f in world.files(p)] for p in paths}
    assert {p: s for p, s in sizes.items() if s != [len(data)]} == {}
    for path in paths[::5]:  # decrypting as alice costs a login + key unlock each: a sample
        world.assert_one_correct_file(data, path=path)
    assert result.s3_deleted and world.open_uploads() == []
    assert all(error.retryable for error in errors)


# -- item 4: "already done?" checks never turn a transient error into "not there" --------------


def test_a_transient_error_while_checking_for_an_earlier_copy_is_retryable(classic):
    """The S3 object is gone (an earlier delivery finished and deleted it). Looking for its
    copy meets 503s: the job fails as retryable, not as "never transferred" (permanent);
    the redelivery finds the copy and succeeds."""
    world = classic
    data = os.urandom(CHUNK)
    world.bucket.put(KEY, data)
    world.run(world.runner(), world.message(KEY))
    assert not world.bucket.exists(KEY)
    world.faults({"method": "GET", "path": r"^/api/v4/nodes$", "status": 503,
                  "retry_after": 1, "count": 6})  # fmt: skip
    runner = world.runner()

    with pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="check")

    assert failure.value.retryable
    assert "HTTP 503" in str(failure.value) and KEY in str(failure.value)
    result = runner.run(world.message(KEY), job_id="check-again")
    assert [f.reused for f in result.files] == [True]
    world.assert_one_correct_file(data)


def test_a_transient_error_while_looking_for_a_twins_copy_is_retryable(classic):
    """The S3 object vanishes mid-read (a concurrent run finished and deleted it?). Looking
    for that run's copy meets 503s: the target fails as retryable -- not with the permanent
    "object does not exist" -- so the next delivery can look again."""
    world = classic
    world.bucket.put(KEY, os.urandom(2 * CHUNK))

    def vanish_and_break_listings():
        world.bucket.client.delete_object(Bucket=world.bucket.name, Key=KEY)
        world.faults({"method": "GET", "path": r"^/api/v4/nodes$", "status": 503,
                      "retry_after": 1, "count": 6})  # fmt: skip

    world.proxy.add(ProxyRule("delay", method="GET", path=rf"/{KEY}(\?|$)", count=1,
                              before=vanish_and_break_listings))  # fmt: skip

    with pytest.raises(JobError) as failure:
        world.runner().run(world.message(KEY), job_id="twin-lookup")

    assert failure.value.retryable
    assert "HTTP 503" in str(failure.value) and "listing node" in str(failure.value)
    assert world.files() == [] and world.open_uploads() == []


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "retry_after": 1, "count": 6},
        {"status": 429, "retry_after": 1, "count": 6},
        {"latency_ms": 1500, "count": 4},  # past dracoon.timeoutSeconds = 1, every read try
    ],
    ids=["503", "429", "timeout"],
)
def test_a_transient_error_while_listing_for_earlier_copies_is_retryable(classic, fault):
    """Looking up the room and its earlier copies fails after the client's retries: the job
    fails as retryable with the S3 object kept and nothing uploaded (never "no copy, upload
    again" on a guess); the redelivery does the job."""
    world = classic
    data = os.urandom(CHUNK + 3)
    world.bucket.put(KEY, data)
    world.faults({"method": "GET", "path": r"^/api/v4/nodes$", **fault})
    runner = world.runner(RS_DRACOON_TIMEOUTSECONDS="1")

    with pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="listing")

    assert failure.value.retryable and "GET /v4/nodes" in str(failure.value)
    assert world.files() == [] and world.open_uploads() == [] and world.bucket.exists(KEY)
    world.faults()
    result = runner.run(world.message(KEY), job_id="listing-again")
    world.assert_one_correct_file(data)
    assert result.s3_deleted
