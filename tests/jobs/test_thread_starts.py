"""A warm worker starts no thread for a small job: the one-chunk upload runs in the job's
thread (dracoon.client.upload), S3 calls with a deadline reuse the process's call threads
(aws.call_threads) and every ranged GET's deadline is kept by one process-wide watchdog
thread (aws.s3). A worker doing thousands of short meetings would otherwise start and end
several threads per job. Over the emulator and moto; the stored file is checked."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time

import pytest

from recording_storage.aws.call_threads import CallThreads
from recording_storage.aws.s3 import CALL_THREADS, S3Error, call_within
from recording_storage.jobs.runner import JobRunner
from tests.jobs.conftest import CHUNK, readme_message

pytestmark = pytest.mark.timeout(120)


def job(bucket, key: str) -> str:
    return json.dumps(readme_message(bucket=bucket.name, keys=[key], targets=[{"path": "few"}]))


def test_a_warm_small_job_starts_no_thread(service, s3_bucket, aws_env, monkeypatch):
    runner = JobRunner(service.settings())
    try:
        s3_bucket.put("t/warm.mp4", os.urandom(1000))
        runner.run(job(s3_bucket, "t/warm.mp4"), job_id="warm")
        data = os.urandom(CHUNK - 100)  # one chunk
        s3_bucket.put("t/talk.mp4", data)
        started: list[str] = []
        start = threading.Thread.start

        def counting_start(thread):
            started.append(thread.name)
            return start(thread)

        monkeypatch.setattr(threading.Thread, "start", counting_start)
        result = runner.run(job(s3_bucket, "t/talk.mp4"), job_id="talk")
        monkeypatch.undo()

        assert started == []
        assert [f.name for f in result.files] == ["talk.mp4"]
        [stored] = [f for f in service.files_in("/Recordings/few") if f["name"] == "talk.mp4"]
        assert service.download_as("alice", stored["id"]) == data
        assert not s3_bucket.exists("t/talk.mp4")  # removed: HeadObject + DeleteObject ran
    finally:
        runner.close()


def test_a_stuck_call_keeps_only_its_own_thread():
    pool = CallThreads("test-call", max_idle=2, idle_seconds=0.5)
    release, ran = threading.Event(), []
    pool.run(release.wait)  # stuck until released
    done = threading.Event()
    pool.run(lambda: (ran.append("second"), done.set()))
    assert done.wait(5), "a call waited for a stuck one"
    assert pool.started == 2
    release.set()
    time.sleep(0.1)  # both threads are idle now
    for _ in range(5):
        finished = threading.Event()
        pool.run(finished.set)
        assert finished.wait(5)
    assert pool.started == 2  # reused, not started again
    time.sleep(1.0)  # idle longer than idle_seconds: they end
    assert not [t for t in threading.enumerate() if t.name == "test-call"]


def test_call_within_still_gives_up_at_its_deadline():
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(S3Error, match=r"within s3\.rangeDeadlineSeconds"):
        call_within(0.2, "HeadObject s3://b/k", lambda: release.wait(10))
    assert time.monotonic() - started < 2
    release.set()
    assert call_within(2.0, "HeadObject s3://b/k", lambda: "answer") == "answer"


def _call_in_child(queue) -> None:
    queue.put(call_within(5.0, "HeadObject s3://b/child", lambda: os.getpid()))


def test_a_forked_child_does_not_wait_on_the_parents_threads():
    assert call_within(5.0, "HeadObject s3://b/parent", lambda: 1) == 1
    time.sleep(0.1)  # the thread is idle in the parent's pool now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_call_in_child, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=10) == child.pid
    finally:
        child.join(10)
    assert CALL_THREADS.started >= 1
