"""Read once for several targets (``jobs.tee``): every target gets every byte, S3 is read
once, a failing target leaves the others correct and keeps the S3 object."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from recording_storage.aws.s3 import S3Error, head_object
from recording_storage.aws.session import make_s3_client
from recording_storage.config import load_settings
from recording_storage.jobs.tee import SharedSource
from tests.jobs.conftest import CHUNK, readme_message


class CountingClient:
    """The S3 client, counting GetObject calls."""

    def __init__(self, client):
        self.client = client
        self.gets = 0

    def get_object(self, **kwargs):
        self.gets += 1
        return self.client.get_object(**kwargs)


@pytest.fixture
def s3(aws_env, tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("")
    return make_s3_client(load_settings(conf, env=aws_env))


def read_all(stream, piece: int) -> bytes:
    out = bytearray()
    buffer = bytearray(piece)
    while count := stream.readinto(buffer):
        out += buffer[:count]
    return bytes(out)


@pytest.mark.parametrize("size", [0, 1, CHUNK, 3 * CHUNK + 17])
def test_three_branches_get_every_byte_from_one_read(s3, s3_bucket, size):
    data = os.urandom(size)
    s3_bucket.put("k", data)
    counting = CountingClient(s3)
    shared = SharedSource(counting, head_object(s3, s3_bucket.name, "k"), CHUNK, 3)
    results: dict[int, bytes] = {}

    def consume(index: int, piece: int) -> None:
        with shared.branch(index) as branch:
            results[index] = read_all(branch, piece)

    # Different read sizes, smaller and larger than a chunk, in three threads.
    threads = [
        threading.Thread(target=consume, args=(index, piece))
        for index, piece in enumerate((1000, CHUNK, 2 * CHUNK + 5))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    digest = hashlib.sha256(data).digest()
    assert {hashlib.sha256(results[i]).digest() for i in range(3)} == {digest}
    assert counting.gets == -(-size // CHUNK)  # each range fetched once, not once per branch


def test_a_closed_branch_does_not_hold_back_the_others(s3, s3_bucket):
    data = os.urandom(4 * CHUNK)
    s3_bucket.put("k", data)
    shared = SharedSource(s3, head_object(s3, s3_bucket.name, "k"), CHUNK, 3)
    failing = shared.branch(1)
    assert len(failing.read(CHUNK // 2)) == CHUNK // 2
    failing.close()  # its upload failed: it never reads again
    results = {}

    def consume(index: int) -> None:
        with shared.branch(index) as branch:
            results[index] = read_all(branch, 7000)

    threads = [threading.Thread(target=consume, args=(i,)) for i in (0, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {0: data, 2: data}


def test_an_s3_failure_fails_every_branch(s3, s3_bucket):
    s3_bucket.put("k", b"a" * (3 * CHUNK))
    shared = SharedSource(s3, head_object(s3, s3_bucket.name, "k"), CHUNK, 2)
    with shared.branch(0) as first, shared.branch(1) as second:  # closed: the reader too
        first.read(CHUNK)
        second.read(CHUNK)
        s3_bucket.put("k", b"b" * (3 * CHUNK))  # replaced: If-Match fails
        for branch in (first, second):
            with pytest.raises(S3Error, match="changed"):
                branch.read(CHUNK)


@pytest.mark.slow
def test_three_targets_one_failing_then_rerun(service, s3_bucket):
    data = os.urandom(5 * CHUNK + 3)
    s3_bucket.put("m/talk.mp4", data)
    rooms = ["one", "two", "three"]
    message = readme_message(
        bucket=s3_bucket.name, keys=["m/talk.mp4"], targets=[{"path": r} for r in rooms]
    )
    # The first chunk sent (by one of the three concurrent uploads) is refused: that upload
    # fails (403 is not retried), the other two must complete with correct content.
    service.admin("POST", "/emulator/faults", {"rules": [
        {"method": "POST", "path": r"/uploads/[^/]+$", "status": 403, "count": 1}
    ]})  # fmt: skip
    status, out, err = service.transfer(message)
    service.admin("DELETE", "/emulator/faults")

    assert status == 4, err
    assert out["status"] == "failed" and "S3 objects kept" in out["error"]
    assert s3_bucket.exists("m/talk.mp4")
    files = {room: service.files_in(f"/Recordings/{room}") for room in rooms}
    assert sorted(len(found) for found in files.values()) == [0, 1, 1]
    for found in files.values():
        for file in found:
            assert service.download_as("alice", file["id"]) == data

    status, out, err = service.transfer(message)
    assert status == 0, err
    assert sorted(f["reused"] for f in out["files"]) == [False, True, True]
    for room in rooms:
        [file] = service.files_in(f"/Recordings/{room}")
        assert service.download_as("bob", file["id"]) == data
    assert not s3_bucket.exists("m/talk.mp4")
