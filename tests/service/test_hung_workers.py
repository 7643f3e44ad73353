"""Heartbeats prove progress (issue 13, item 7), over real processes and real SQS (moto).

A worker whose job thread is stuck while its heartbeat thread keeps beating is replaced
after ``progress_timeout``; its stack dump (asked with SIGUSR1 before SIGKILL) is in the
log and names the blocking function; its job's message is not lost. An idle worker (long
polling SQS) and a slow job that keeps progressing are left alone.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from recording_storage import work_progress
from recording_storage.workers.file_transferer import _ProgressReporter
from tests.service.support import queue_counts, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# 6 s: well above an idle turn (a 1 s SQS long poll) even on a loaded machine.
WATCHFUL = {"RECORDING_STORAGE_PROGRESS_TIMEOUT": "6", "RECORDING_STORAGE_STACK_DUMP_WAIT": "1"}


def send(sqs, queue_url, **job) -> str:
    return sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(job))["MessageId"]


def restarts(service, worker: str, cause: str) -> float:
    return service.metric("recording_storage_worker_restarts_total", worker=worker, cause=cause)


def test_a_stuck_job_thread_is_found_despite_heartbeats_and_its_job_is_not_lost(
    fake_service, sqs, queue_url, tmp_path
):
    service = fake_service(env=WATCHFUL)
    first = service.current_pid("file_transferer-1")
    job = send(sqs, queue_url, hang=True, seconds=0.2, bytes=1234)
    wait_for(lambda: (tmp_path / "started" / job).exists(), 15, "the job to start")

    second = wait_for(
        lambda: [p for p in service.worker_pids("file_transferer-1") if p != first],
        30,
        "a replacement of the stuck worker",
    )[0]

    records = [r for r in service.log_records() if r.get("pid") == first]
    hung = [r for r in records if r.get("code") == 15015]
    # It was beating the whole time: found by its progress, not by silence.
    assert not any("sent no heartbeat" in r["message"] for r in hung)
    detected = [r for r in hung if "made no progress" in r["message"]]
    assert detected and detected[0]["job"] == job and detected[0]["state"] == "busy"
    dumps = [r for r in hung if r.get("stack")]
    assert dumps, hung
    assert "wait_forever_in_the_fake_job" in dumps[0]["stack"]
    assert "wait_forever_in_the_fake_job" in service.log_text()
    died = [r for r in hung if r.get("cause") == "hung"]
    assert died and "SIGKILL" in died[0]["message"] and died[0]["job"] == job
    wait_for(lambda: restarts(service, "file_transferer-1", "hung") == 1, 10, "the hung restart")

    # The message reappears after its visibility timeout and the replacement finishes it.
    wait_for(lambda: (tmp_path / "done" / job).exists(), 30, "the job to complete")
    assert (tmp_path / "done" / job).read_text() == str(second)
    wait_for(lambda: queue_counts(sqs, queue_url) == (0, 0), 15, "the message to be deleted")
    wait_for(
        lambda: service.metric("recording_storage_bytes_transferred_total") == 1234,
        10,
        "the job's bytes in /metrics (counted right after the message is deleted)",
    )


def test_idle_workers_and_a_slow_progressing_job_are_not_killed(
    fake_service, sqs, queue_url, tmp_path
):
    service = fake_service(env=WATCHFUL)
    workers = ("file_transferer-1", "dracoon_global_sharer", "health_prober")
    for worker in workers:
        service.current_pid(worker)
    time.sleep(9)  # longer than the progress timeout, idle (SQS long polls of 1 s)

    job = send(sqs, queue_url, seconds=10, bytes=8000)  # progresses, but for 10 s > 6 s
    wait_for(lambda: (tmp_path / "done" / job).exists(), 30, "the slow job to finish")
    wait_for(lambda: queue_counts(sqs, queue_url) == (0, 0), 15, "the message to be deleted")

    for worker in workers:
        assert len(service.worker_pids(worker)) == 1, worker
    assert service.metric("recording_storage_worker_restarts_total") == 0
    assert "made no progress" not in service.log_text()


# -- the pieces, without processes --------------------------------------------------------


def test_the_progress_callback_counts_only_changes():
    steps = []
    sink = SimpleNamespace(advance=lambda: steps.append(1), beat=lambda: None)
    reporter = _ProgressReporter("job", {}, enabled=False, heartbeat=sink)
    for done in (0, 0, 10, 10, 10, 20):
        reporter(done, 100)
    assert len(steps) == 3


def test_server_failures_are_not_progress():
    counter = work_progress.WORK_PROGRESS
    seen = []

    class Inner:
        def on_response(self, *args):
            seen.append(args)

    events = work_progress.ProgressEvents(Inner())
    before = counter.value
    events.on_response("GET", "/x", 503, 0.1)
    events.on_response("GET", "/x", 0, 0.1)
    assert counter.value == before
    events.on_response("GET", "/x", 200, 0.1)
    events.on_response("GET", "/x", 404, 0.1)
    assert counter.value != before
    assert len(seen) == 4  # the metrics hook still sees every answer
