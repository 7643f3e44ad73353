"""The S3 object is already gone (an earlier delivery uploaded it everywhere, deleted it and
crashed before the SQS message was deleted): the copies in the target rooms are all that is
left and must prove the job done. Over real HTTP (emulator behind the tamper proxy, moto).

Encrypted room: the copy is downloaded as the service user and decrypted with its own file
key -- the GCM tag proves every byte. Plain room: nothing is left to compare with, size and
marker only (docs/reliability.md).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from recording_storage.jobs.runner import JobError
from recording_storage.logcodes import LogCode
from tests.jobs.conftest import CHUNK, DOMAIN
from tests.reliability.test_adversarial_13 import CHUNK_URL, DOWNLOADS, KEY, _plant

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CHANNELS = r"^/api/v4/nodes/files/uploads$"


def _plant_and_delete_source(world, data: bytes, content: bytes, parent="/Recordings") -> int:
    """A copy with the job's marker in room ``rec``, then the S3 object deleted: the state an
    earlier delivery leaves when it crashed after its S3 delete."""
    world.bucket.put(KEY, data)
    planted = _plant(world, "rec", content, parent=parent)
    world.bucket.client.delete_object(Bucket=world.bucket.name, Key=KEY)
    assert not world.bucket.exists(KEY)
    return planted


def _flip_stored_bytes(world, file_id: int) -> bytes:
    """Damage the stored ciphertext at rest (same size); returns the stored bytes after."""
    node = world.emulator.app.state.nodes[file_id]
    path = Path(world.emulator.app.store.path(node.blob_id))
    stored = bytearray(path.read_bytes())
    for at in (len(stored) // 3, len(stored) // 2):
        stored[at] ^= 0x5A
    path.write_bytes(bytes(stored))
    return bytes(stored)


def test_a_correct_copy_in_an_encrypted_room_is_read_back_once_and_proves_done(classic):
    world = classic
    data = os.urandom(2 * CHUNK + 7)
    planted = _plant_and_delete_source(world, data, data)

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    assert world.assert_one_correct_file(data)["id"] == planted
    assert [(f.file_id, f.reused) for f in result.files] == [(planted, True)]
    assert world.tamper.count("POST", DOWNLOADS) == 1  # one read-back, shared with the report
    assert world.tamper.count("POST", CHANNELS) == 0
    assert world.tamper.count("POST", CHUNK_URL) == 0
    assert not world.bucket.exists(KEY)


def test_a_damaged_only_copy_fails_permanently_and_is_kept(classic, caplog):
    """Same size, flipped ciphertext bytes: the GCM tag fails. The copy is all that is left
    of the recording, so it stays untouched; the job fails permanently (15009) naming the
    instance, the S3 location, the room, the file and the damage -- never reported done."""
    caplog.set_level(logging.INFO)
    world = classic
    data = os.urandom(2 * CHUNK + 7)
    planted = _plant_and_delete_source(world, data, data)
    damaged = _flip_stored_bytes(world, planted)

    with pytest.raises(JobError) as failure:
        world.run(world.runner(), world.message(KEY))

    error = str(failure.value)
    assert not failure.value.retryable, error
    for part in (DOMAIN, f"s3://{world.bucket.name}/{KEY}", "'rec'", f"file {planted}",
                 "damaged", "integrity check failed", "only copy", "gone from S3"):  # fmt: skip
        assert part in error, (part, error)
    files = world.files()
    assert [(f["id"], f["size"]) for f in files] == [(planted, len(data))]
    node = world.emulator.app.state.nodes[planted]
    assert Path(world.emulator.app.store.path(node.blob_id)).read_bytes() == damaged
    assert not world.emulator.app.state.recycle_bin
    assert world.tamper.count("POST", CHANNELS) == 0
    assert not world.bucket.exists(KEY)
    logged = [
        r for r in caplog.records if getattr(r, "code", None) == LogCode.AMAZON_TO_DRACOON_ERROR
    ]
    assert any("damaged" in r.getMessage() and str(planted) in r.getMessage() for r in logged)


def test_a_read_back_that_cannot_be_made_is_retryable(classic):
    """The download of the copy meets 503s: "could not check" is neither done nor damaged --
    the job fails as retryable, the copy stays, and the redelivery checks it and succeeds."""
    world = classic
    data = os.urandom(CHUNK + 1)
    planted = _plant_and_delete_source(world, data, data)
    world.faults({"method": "POST", "path": DOWNLOADS, "status": 503, "retry_after": 1,
                  "count": 6})  # fmt: skip
    runner = world.runner()

    with pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="check")

    world.faults()
    assert failure.value.retryable, failure.value
    assert "HTTP 503" in str(failure.value) and KEY in str(failure.value)
    assert [f["id"] for f in world.files()] == [planted]
    result = runner.run(world.message(KEY), job_id="check-again")
    assert [(f.file_id, f.reused) for f in result.files] == [(planted, True)]
    world.assert_one_correct_file(data)


def test_a_copy_in_a_plain_room_is_checked_by_size_and_marker_only(classic):
    """Plain room: no tag, and no S3 object to compare with -- a same-size copy with the
    marker proves the job done without a download (documented limit: a same-size copy of
    other bytes is not told apart here)."""
    world = classic
    plain = world.node("/Plain")["id"]
    world.set_instance(DOMAIN, **{"recordings.dracoon.parent-room-id": plain})
    data = os.urandom(2 * CHUNK + 3)
    other = os.urandom(len(data))
    planted = _plant_and_delete_source(world, data, other, parent="/Plain")

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    assert [(f.file_id, f.reused) for f in result.files] == [(planted, True)]
    assert world.tamper.count("POST", DOWNLOADS) == 0
    assert world.tamper.count("POST", CHANNELS) == 0
    files = world.files_in("/Plain/rec")
    assert [f["id"] for f in files] == [planted]
    assert world.download_as("alice", planted) == other  # left as it was
