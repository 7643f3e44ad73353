"""Heartbeats prove progress with the real job runner (issue 13, item 7): ``serve`` as a
subprocess, the DRACOON emulator, the moto server. The work counter moves with the real
transfer's DRACOON and S3 answers and its progress callbacks, so a slow transfer lives; an
upload whose answer never comes is found, its stack names where it waited, and the job
completes after the replacement."""

from __future__ import annotations

import os

import pytest

from tests.jobs.conftest import CHUNK
from tests.service import test_end_to_end as e2e
from tests.service.support import queue_counts, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

live = e2e.live  # the fixture: emulator, moto, configurator, `serve` on demand
WATCHFUL = {"RECORDING_STORAGE_PROGRESS_TIMEOUT": "5", "RECORDING_STORAGE_STACK_DUMP_WAIT": "1"}


def test_a_slow_real_transfer_is_not_taken_for_a_hang(live):
    service = live.start(**WATCHFUL)
    live.faults(e2e.SLOW_CHUNKS)  # every chunk answered after 1 s: 8 chunks, > 5 s in all
    data = os.urandom(8 * CHUNK)
    job = live.send("slow/video.mp4", data)
    wait_for(lambda: len(live.files()) == 1, 90, "the file in DRACOON")
    wait_for(lambda: queue_counts(live.sqs, live.queue_url) == (0, 0), 15, "an empty queue")
    [profile] = wait_for(lambda: live.job_records(job, 15008), 15, "the job's 15008 record")
    assert profile["duration_seconds"] > 5  # longer than the progress timeout
    assert live.setup.download_as("alice", live.files()[0]["id"]) == data
    assert service.metric("recording_storage_worker_restarts_total") == 0
    assert len(service.worker_pids("file_transferer-1")) == 1


def test_an_upload_whose_answer_never_comes_is_found_and_the_job_completes(live):
    service = live.start(**WATCHFUL)  # DRACOON's read timeout (60 s) would be far later
    worker = service.current_pid("file_transferer-1")
    # The first chunk's answer takes 120 s: the job thread waits in the upload, while the
    # heartbeat and the SQS visibility threads go on.
    live.faults({**e2e.SLOW_CHUNKS, "latency_ms": 120_000, "count": 1})
    data = os.urandom(3 * CHUNK + 5)
    job = live.send("stuck/video.mp4", data)

    wait_for(
        lambda: [p for p in service.worker_pids("file_transferer-1") if p != worker],
        60,
        "a replacement of the stuck worker",
    )
    records = [r for r in service.log_records() if r.get("pid") == worker]
    assert any("made no progress" in r["message"] for r in records if r.get("code") == 15015)
    [dump] = [r for r in records if r.get("stack")]
    assert "dracoon/client/upload.py" in dump["stack"]  # where the job thread waited
    assert dump["job"] == job

    wait_for(lambda: len(live.files()) == 1, 90, "the file after the redelivery")
    wait_for(lambda: queue_counts(live.sqs, live.queue_url) == (0, 0), 15, "an empty queue")
    assert live.setup.download_as("bob", live.files()[0]["id"]) == data
    assert live.bucket.list_keys() == []
    assert service.metric("recording_storage_worker_restarts_total", cause="hung") == 1
