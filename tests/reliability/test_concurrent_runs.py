"""The same job run twice at the same time (a message delivered to two workers or two
service instances) converges to exactly one file per target (recording_storage.jobs.dedup)."""

from __future__ import annotations

import io
import os
from types import SimpleNamespace

import pytest

from recording_storage.jobs.dedup import keep_oldest_copy
from recording_storage.jobs.errors import JobError
from recording_storage.jobs.plan import marker_for
from tests.jobs.conftest import CHUNK
from tests.reliability.conftest import in_thread
from tests.support.fault_proxy import ProxyRule

SLOW_COMPLETION = {"method": "PUT", "path": r"^/api/v4/uploads/[^/]+$", "latency_ms": 800}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_runs_of_one_job_at_the_same_time_leave_one_file_per_target(world):
    data = os.urandom(CHUNK - 100)  # one range: both runs have read S3 before they complete
    world.bucket.put("rec/twice.mp4", data)
    body = world.message("rec/twice.mp4", keys=None)
    body = body.replace('"targets": [{"path": "rec"}]', '"targets": [{"path": "a"}, {"path": "b"}]')
    world.faults(SLOW_COMPLETION)  # both uploads are in flight at the same time
    runners = [world.runner(), world.runner()]  # two processes: two DRACOON sessions
    threads = [in_thread(lambda r=r: r.run(body, job_id=f"twin-{id(r)}")) for r in runners]
    for thread, _ in threads:
        thread.join(60)

    results = [outcome[0] for _, outcome in threads]
    assert not any(isinstance(r, BaseException) for r in results), results
    for path in ("a", "b"):
        kept = world.assert_one_correct_file(data, path=path)
        # Both runs report the same (kept) file: whichever uploaded second removed its copy.
        ids = {f.file_id for result in results for f in result.files if f.target == path}
        assert ids == {kept["id"]}
    assert not world.bucket.exists("rec/twice.mp4")
    assert len([n for n in world.nodes() if n["path"] == "/Recordings/a"]) == 1


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_run_whose_object_is_deleted_by_a_finished_twin_succeeds(world):
    """Run B has done HeadObject; run A then completes the job and deletes the object; B's
    GetObject finds nothing. B must recognise A's file, not fail for the dead-letter queue."""
    data = os.urandom(3 * CHUNK)
    world.bucket.put("rec/twin.mp4", data)
    body = world.message("rec/twin.mp4")
    first, second = world.runner(), world.runner()
    finished = []
    world.proxy.add(
        ProxyRule("delay", method="GET", path=r"/rec/twin\.mp4$", count=1,
                  before=lambda: finished.append(first.run(body, job_id="A")))
    )  # fmt: skip

    result = second.run(body, job_id="B")

    assert finished and finished[0].s3_deleted
    kept = world.assert_one_correct_file(data)
    assert [(f.file_id, f.reused) for f in result.files] == [(kept["id"], True)]


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_redelivery_removes_a_duplicate_left_by_an_earlier_race(world):
    data = os.urandom(1000)
    etag = world.bucket.put("rec/dup.mp4", data)
    runner = world.runner(RS_S3_REMOVEAFTERTRANSFERRING="false")
    runner.run(world.message("rec/dup.mp4"), job_id="first")
    [first] = world.files()
    info = SimpleNamespace(bucket=world.bucket.name, key="rec/dup.mp4", size=len(data), etag=etag)
    with world.client_as("service") as client:  # a second complete copy, as a race leaves it
        client.upload(first["parentId"], "dup.mp4", io.BytesIO(data), len(data),
                      notes=marker_for(info))  # fmt: skip
    assert len(world.files()) == 2

    result = world.runner().run(world.message("rec/dup.mp4"), job_id="again")

    kept = world.assert_one_correct_file(data)
    assert kept["id"] == first["id"] and [f.file_id for f in result.files] == [first["id"]]
    assert result.s3_deleted


# -- the rule itself, with a fake client --------------------------------------------------------


class FakeRoom:
    def __init__(self, *nodes):
        self.nodes = {n.id: n for n in nodes}
        self.deleted: list[int] = []

    def list_children(self, room_id, node_type=None, name_contains=None):
        return list(self.nodes.values())

    def delete_file(self, file_id):
        self.deleted.append(file_id)
        return self.nodes.pop(file_id, None) is not None


def _node(node_id, notes="m", size=10):
    return SimpleNamespace(id=node_id, name=f"f{node_id}", notes=notes, size=size)


def _keep(room, own):
    return keep_oldest_copy(room, 1, own, lambda n: n.notes == "m", size=10, job_id="j")


def test_the_oldest_copy_is_kept_and_the_others_deleted():
    room = FakeRoom(_node(12), _node(10), _node(11), _node(9, notes="other"), _node(8, size=3))
    assert _keep(room, room.nodes[12]).id == 10
    # Node 8 carries the marker but not the recording's size: a broken copy, deleted too.
    assert sorted(room.deleted) == [8, 11, 12]
    assert set(room.nodes) == {9, 10}  # other markers are never touched


def test_a_copy_removed_by_a_concurrent_run_is_fine():
    room = FakeRoom(_node(10), _node(11))
    original = room.delete_file

    def raced(file_id):
        original(file_id)
        return False  # the other run had deleted it already

    room.delete_file = raced
    assert _keep(room, room.nodes[11]).id == 10


def test_no_listed_copy_means_nothing_proves_the_upload():
    with pytest.raises(JobError, match="no longer listed") as failure:
        _keep(FakeRoom(), _node(10))
    assert failure.value.retryable
