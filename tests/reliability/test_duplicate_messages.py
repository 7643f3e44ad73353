"""One recording sent as two different SQS messages (a producer that sends twice), each on
its first delivery: the transfer skips the listing of earlier uploads then, and the check
after the upload must still leave exactly one correct file per room, with the S3 object
deleted only once a correct copy is in the room (docs/reliability.md, "Duplicate protection
at the floor")."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from recording_storage.jobs.runner import JobRunner
from tests.jobs.conftest import CHUNK
from tests.reliability.conftest import in_thread
from tests.support.fault_proxy import ProxyRule

SLOW_COMPLETION = {"method": "PUT", "path": r"^/api/v4/uploads/[^/]+$", "latency_ms": 800}


def _watch_s3_delete(world, key: str, data: bytes) -> list[list[dict]]:
    """The room's files at the moment each DeleteObject of ``key`` reaches S3; every one of
    those moments must already hold a correct copy."""
    seen: list[list[dict]] = []

    def record() -> None:
        files = world.files()
        seen.append(files)
        assert any(world.download_as("alice", f["id"]) == data for f in files), files

    world.proxy.add(ProxyRule("delay", method="DELETE", path=rf"/{key}$", before=record))
    return seen


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_second_message_after_a_run_that_kept_the_object_leaves_one_file(world):
    """The first message uploads but cannot delete the object (S3 refuses); the second
    message, first delivery, lists nothing before it uploads: DRACOON renames its copy, so
    it looks after the completion, keeps the first copy and deletes its own and the object."""
    data = os.urandom(1000)
    world.bucket.put("rec/twice.mp4", data)
    body = world.message("rec/twice.mp4")
    world.proxy.add(ProxyRule("error", method="DELETE", path=r"/rec/twice\.mp4$", status=500,
                              code="InternalError", count=20))  # fmt: skip
    with pytest.raises(Exception, match="deleting it failed"):
        world.runner().run(body, job_id="message-1", delivery=1)
    [first] = world.files()
    assert world.bucket.exists("rec/twice.mp4")
    world.proxy.clear()
    seen = _watch_s3_delete(world, r"rec/twice\.mp4", data)

    result = world.runner().run(body, job_id="message-2", delivery=1)

    kept = world.assert_one_correct_file(data)
    assert kept["id"] == first["id"] and kept["name"] == "twice.mp4"
    assert [f.file_id for f in result.files] == [first["id"]]
    assert result.s3_deleted and not world.bucket.exists("rec/twice.mp4")
    assert len(seen) == 1


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_messages_for_one_recording_at_the_same_time_leave_one_file(world):
    """Both first deliveries skip the listing before the upload and complete at about the
    same time: the one that got the name lists nothing, the renamed one sees it and removes
    its own copy."""
    data = os.urandom(CHUNK - 100)
    world.bucket.put("rec/pair.mp4", data)
    body = world.message("rec/pair.mp4")
    seen = _watch_s3_delete(world, r"rec/pair\.mp4", data)
    world.faults(SLOW_COMPLETION)  # both uploads are in flight at the same time
    runners = [world.runner(), world.runner()]
    threads = [
        in_thread(lambda r=r, n=n: r.run(body, job_id=f"message-{n}", delivery=1))
        for n, r in enumerate(runners)
    ]
    for thread, _ in threads:
        thread.join(60)
    world.faults()

    results = [outcome[0] for _, outcome in threads]
    assert not any(isinstance(r, BaseException) for r in results), results
    kept = world.assert_one_correct_file(data)
    assert kept["name"] == "pair.mp4"
    assert {f.file_id for r in results for f in r.files} == {kept["id"]}
    assert not world.bucket.exists("rec/pair.mp4")
    assert 1 <= len(seen) <= 2  # the second delete may find the object gone already


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_redelivery_still_reuses_the_copy_of_an_earlier_delivery(world):
    """Delivery 2 lists before the upload: a copy from delivery 1 (which failed after the
    upload) is reused, not uploaded again."""
    data = os.urandom(1000)
    world.bucket.put("rec/again.mp4", data)
    body = world.message("rec/again.mp4")
    world.proxy.add(ProxyRule("error", method="DELETE", path=r"/rec/again\.mp4$", status=500,
                              code="InternalError", count=20))  # fmt: skip
    with pytest.raises(Exception, match="deleting it failed"):
        world.runner().run(body, job_id="job", delivery=1)
    world.proxy.clear()

    result = world.runner().run(body, job_id="job", delivery=2)

    kept = world.assert_one_correct_file(data)
    assert [(f.file_id, f.reused) for f in result.files] == [(kept["id"], True)]
    assert result.bytes_transferred == 0 and result.s3_deleted


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_first_delivery_of_an_old_object_still_lists_before_its_upload(world):
    """An object written long before the message (a dead letter replayed as a new message, a
    job sent again by hand) may have a copy of any age in the room: even its first delivery
    lists, finds the copy and uploads nothing."""
    data = os.urandom(1000)
    world.bucket.put("rec/old.mp4", data)
    body = world.message("rec/old.mp4")
    world.proxy.add(ProxyRule("error", method="DELETE", path=r"/rec/old\.mp4$", status=500,
                              code="InternalError", count=20))  # fmt: skip
    with pytest.raises(Exception, match="deleting it failed"):
        world.runner().run(body, job_id="message-1", delivery=1)
    world.proxy.clear()
    a_day_later = JobRunner(world.settings(), clock=lambda: datetime.now(UTC) + timedelta(days=1))
    world.runners.append(a_day_later)

    result = a_day_later.run(body, job_id="replayed", delivery=1)

    kept = world.assert_one_correct_file(data)
    assert [(f.file_id, f.reused) for f in result.files] == [(kept["id"], True)]
    assert result.bytes_transferred == 0 and result.s3_deleted


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_first_delivery_with_a_vanished_key_reports_the_copy_left_for_it(world):
    """One key was transferred and deleted by an earlier message, the other is new: the job
    lists the room (an earlier run exists), reports the earlier copy and uploads the new key."""
    first, second = os.urandom(1000), os.urandom(1200)
    world.bucket.put("rec/one.mp4", first)
    world.runner().run(world.message("rec/one.mp4"), job_id="earlier", delivery=1)
    assert not world.bucket.exists("rec/one.mp4")
    world.bucket.put("rec/two.mp4", second)

    body = world.message("rec/one.mp4", keys=["rec/one.mp4", "rec/two.mp4"])
    result = world.runner().run(body, job_id="both", delivery=1)

    files = {f["name"]: f for f in world.files()}
    assert sorted(files) == ["one.mp4", "two.mp4"]
    assert world.download_as("alice", files["two.mp4"]["id"]) == second
    assert sorted((f.key, f.file_id, f.reused) for f in result.files) == [
        ("rec/one.mp4", files["one.mp4"]["id"], True),
        ("rec/two.mp4", files["two.mp4"]["id"], False),
    ]
    assert not world.bucket.exists("rec/two.mp4")


def _files_named(world, stem: str) -> list[dict]:
    return [f for f in world.files() if f["name"].startswith(stem)]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_renamed_copy_whose_check_failed_is_removed_once_the_object_is_gone(world):
    """Two messages for one recording. The first keeps the name, skips its listing (the
    floor) and deletes the S3 object; the second, renamed, cannot list after its completion
    (DRACOON 503s) and fails. Its redelivery finds the object gone: it must not settle for
    the two identical copies the room now holds, but keep the oldest and delete the other."""
    data = os.urandom(1000)
    world.bucket.put("rec/dup.mp4", data)
    body = world.message("rec/dup.mp4")
    second = world.runner()
    world.bucket.put("rec/warm.mp4", b"w" * 100)  # the second runner knows the room already
    second.run(world.message("rec/warm.mp4"), job_id="warm", delivery=1)
    failures: list[BaseException] = []

    def second_message_meanwhile() -> None:
        world.faults({"method": "GET", "path": r"^/api/v4/nodes$", "status": 503,
                      "retry_after": 1, "count": 6})  # fmt: skip
        try:
            second.run(body, job_id="message-2", delivery=1)
        except Exception as exc:  # the test looks at it
            failures.append(exc)
        finally:
            world.faults()

    world.proxy.add(ProxyRule("delay", method="DELETE", path=r"/rec/dup\.mp4$", count=1,
                              before=second_message_meanwhile))  # fmt: skip
    first = world.runner().run(body, job_id="message-1", delivery=1)

    assert first.s3_deleted and not world.bucket.exists("rec/dup.mp4")
    assert len(failures) == 1 and getattr(failures[0], "retryable", False), failures
    assert sorted(f["name"] for f in _files_named(world, "dup")) == ["dup (1).mp4", "dup.mp4"]

    result = second.run(body, job_id="message-2", delivery=2)

    [kept] = _files_named(world, "dup")
    assert kept["name"] == "dup.mp4" and world.download_as("alice", kept["id"]) == data
    assert [(f.file_id, f.reused) for f in result.files] == [(kept["id"], True)]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_first_delivery_with_one_key_gone_reports_and_reuses_every_earlier_copy(world):
    """An earlier message for keys a and b put both into the room, deleted a and failed on
    b. A new message for the same keys (first delivery, young objects) takes the gone path
    for a, which lists: the listing serves b as well, so b is reused (not uploaded again)
    and a's copy is reported."""
    data_a, data_b = os.urandom(700), os.urandom(900)
    world.bucket.put("rec/a.mp4", data_a)
    world.bucket.put("rec/b.mp4", data_b)
    body = world.message("rec/a.mp4", keys=["rec/a.mp4", "rec/b.mp4"])
    world.proxy.add(ProxyRule("error", method="DELETE", path=r"/rec/b\.mp4$", status=500,
                              code="InternalError", count=20))  # fmt: skip
    with pytest.raises(Exception, match="deleting it failed"):
        world.runner().run(body, job_id="message-1", delivery=1)
    world.proxy.clear()
    assert not world.bucket.exists("rec/a.mp4") and world.bucket.exists("rec/b.mp4")

    result = world.runner().run(body, job_id="message-2", delivery=1)

    files = {f["name"]: f for f in world.files()}
    assert sorted(files) == ["a.mp4", "b.mp4"]
    assert sorted((f.key, f.file_id, f.reused) for f in result.files) == [
        ("rec/a.mp4", files["a.mp4"]["id"], True),
        ("rec/b.mp4", files["b.mp4"]["id"], True),
    ]
    assert result.bytes_transferred == 0 and not world.bucket.exists("rec/b.mp4")
