"""The process model over real processes, real SQS (moto server) and real HTTP, with a fake
job runner (tests/service/fake_serve.py): the master's supervision, heartbeats, restarts,
SQS settlement, health and metrics, and graceful shutdown."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import pytest

from tests.service.support import queue_counts, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def send(sqs, queue_url, **job) -> str:
    return sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(job))["MessageId"]


def test_jobs_are_transferred_and_their_messages_deleted(fake_service, sqs, queue_url, tmp_path):
    service = fake_service(transferers=2)
    ids = [send(sqs, queue_url, seconds=0.2, bytes=1000 + i) for i in range(3)]

    wait_for(lambda: all((tmp_path / "done" / i).exists() for i in ids), 30, "3 jobs done")
    wait_for(lambda: queue_counts(sqs, queue_url) == (0, 0), 15, "an empty queue")
    wait_for(
        lambda: service.metric("recording_storage_jobs_succeeded_total") == 3,
        10,
        "3 successes in /metrics",
    )
    assert service.metric("recording_storage_jobs_received_total") == 3
    assert service.metric("recording_storage_bytes_transferred_total") == 3003
    assert service.metric("recording_storage_transfer_duration_seconds_count") == 3
    records = service.log_records()
    profiling = [r for r in records if r.get("code") == 15008]
    assert {r["job"] for r in profiling} == set(ids)
    assert all(r["bytes"] > 0 and "throughput_mib_s" in r for r in profiling)
    assert any(r.get("code") == 15000 for r in records)


def test_a_long_transfer_keeps_its_message_invisible(fake_service, sqs, queue_url, tmp_path):
    # Visibility is 3 s (FAST_OPTIONS); the job takes 8 s: only extensions keep it hidden.
    service = fake_service()
    job = send(sqs, queue_url, seconds=8)
    wait_for(lambda: (tmp_path / "started" / job).exists(), 15, "the job to start")
    seen = []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and not (tmp_path / "done" / job).exists():
        response = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, VisibilityTimeout=0)
        seen.extend(response.get("Messages", []))
    assert seen == [], "the message became visible while its job ran"
    wait_for(lambda: (tmp_path / "done" / job).exists(), 15, "the job to finish")
    wait_for(lambda: queue_counts(sqs, queue_url) == (0, 0), 10, "the message to be deleted")
    assert (tmp_path / "started" / job).read_text().count("\n") == 1  # never redelivered
    assert service.metric("recording_storage_jobs_succeeded_total") == 1


def test_a_killed_worker_is_replaced_and_its_job_completes_after_redelivery(
    fake_service, sqs, queue_url, tmp_path
):
    service = fake_service()
    first = service.current_pid("file_transferer-1")
    job = send(sqs, queue_url, seconds=60, redelivery_seconds=0.2)
    wait_for(lambda: (tmp_path / "started" / job).exists(), 15, "the job to start")
    os.kill(first, signal.SIGKILL)

    second = wait_for(
        lambda: [p for p in service.worker_pids("file_transferer-1") if p != first],
        15,
        "a replacement worker",
    )[0]
    assert second != first
    # The message reappears after its visibility timeout (3 s) and the new worker finishes it.
    wait_for(lambda: (tmp_path / "done" / job).exists(), 30, "the job to complete")
    assert (tmp_path / "done" / job).read_text() == str(second)
    wait_for(lambda: queue_counts(sqs, queue_url) == (0, 0), 10, "the message to be deleted")
    assert (
        service.metric(
            "recording_storage_worker_restarts_total", worker="file_transferer-1", cause="exited"
        )
        == 1
    )
    died = [r for r in service.log_records() if r.get("code") == 15015 and r.get("pid") == first]
    assert died and died[0]["cause"] == "exited" and "SIGKILL" in died[0]["message"]
    assert died[0]["job"] == job


def test_a_hung_worker_is_replaced(fake_service, sqs, queue_url):
    service = fake_service()
    first = service.current_pid("file_transferer-1")
    os.kill(first, signal.SIGSTOP)  # a real hang: no heartbeat, no progress
    try:
        wait_for(
            lambda: (
                service.health()
                == (500, {"error": "worker_error_file_transferer", "status": "error"})
            ),
            10,
            "health to report the hung worker",
        )
        wait_for(lambda: len(service.worker_pids("file_transferer-1")) == 2, 15, "a replacement")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(first, signal.SIGCONT)
    assert (
        service.metric(
            "recording_storage_worker_restarts_total", worker="file_transferer-1", cause="hung"
        )
        == 1
    )
    hung = [r for r in service.log_records() if r.get("code") == 15015 and r.get("pid") == first]
    assert any("sent no heartbeat" in r["message"] for r in hung)
    wait_for(lambda: service.health()[0] == 200, 15, "health to recover")
    # The replacement works.
    job = send(sqs, queue_url, seconds=0.1)
    wait_for(lambda: queue_counts(sqs, queue_url) == (0, 0), 15, f"job {job} to be done")


def test_healthcheck_success_and_each_dependency_failure(fake_service, tmp_path):
    service = fake_service()
    wait_for(lambda: service.health() == (200, {"status": "success"}), 15, "a healthy service")
    for probe in ("sqs", "s3", "configurator", "dracoon"):
        (tmp_path / "probes.json").write_text(json.dumps({probe: False}))
        expected = (500, {"error": f"{probe}_error", "status": "error"})
        wait_for(lambda expected=expected: service.health() == expected, 10, f"{probe}_error")
        assert service.metric("recording_storage_health_probe_ok", probe=probe) == 0
    (tmp_path / "probes.json").write_text("{}")
    wait_for(lambda: service.health()[0] == 200, 10, "health to recover")


def test_healthcheck_reports_a_missing_sharer(fake_service):
    service = fake_service()
    wait_for(lambda: service.health()[0] == 200, 15, "a healthy service")
    sharer = service.current_pid("dracoon_global_sharer")
    os.kill(sharer, signal.SIGSTOP)
    try:
        wait_for(
            lambda: service.health()[1].get("error") == "worker_error_dracoon_global_sharer",
            10,
            "worker_error_dracoon_global_sharer",
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(sharer, signal.SIGCONT)


def test_without_sharer_the_service_is_healthy_without_one(fake_service):
    service = fake_service(sharer=0)
    wait_for(lambda: service.health()[0] == 200, 15, "a healthy service")
    assert service.worker_pids("dracoon_global_sharer") == []


def test_metrics_list(fake_service, sqs, queue_url, tmp_path):
    service = fake_service()
    send(sqs, queue_url, seconds=0.1, bytes=5000)
    send(sqs, queue_url, fail="invalid")
    wait_for(
        lambda: (
            service.metric("recording_storage_jobs_failed_total", reason="invalid_message") >= 1
        ),
        15,
        "a failed job",
    )
    wait_for(lambda: service.metric("recording_storage_jobs_succeeded_total") == 1, 15, "a job")
    wait_for(
        lambda: service.metric("recording_storage_sharer_keys_distributed_total") >= 2,
        10,
        "a sharer pass",
    )
    names = {name for name, _labels in service.metrics()}
    for expected in (
        "recording_storage_jobs_received_total",
        "recording_storage_jobs_succeeded_total",
        "recording_storage_jobs_failed_total",
        "recording_storage_bytes_transferred_total",
        "recording_storage_transfer_duration_seconds_bucket",
        "recording_storage_transfers_in_flight",
        "recording_storage_sharer_runs_total",
        "recording_storage_sharer_keys_distributed_total",
        "recording_storage_worker_up",
        "recording_storage_worker_heartbeat_age_seconds",
        "recording_storage_health_probe_ok",
    ):
        assert expected in names, expected
    assert service.metric("recording_storage_worker_up", worker="file_transferer-1") == 1
    assert (
        service.metric("recording_storage_worker_heartbeat_age_seconds", worker="file_transferer-1")
        < 3
    )
    assert service.metric("recording_storage_bytes_transferred_total") == 5000
    assert service.metric("recording_storage_transfers_in_flight") == 0


def test_sigterm_lets_a_running_transfer_finish_within_the_grace_period(
    fake_service, sqs, queue_url, tmp_path
):
    service = fake_service()
    job = send(sqs, queue_url, seconds=2)
    wait_for(lambda: (tmp_path / "started" / job).exists(), 15, "the job to start")
    service.signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0
    assert (tmp_path / "done" / job).exists()
    assert queue_counts(sqs, queue_url) == (0, 0)


def test_sigterm_after_the_grace_period_cancels_and_releases_the_message(
    fake_service, sqs, queue_url, tmp_path
):
    service = fake_service(env={"RECORDING_STORAGE_GRACEFUL_TIMEOUT": "1"})
    job = send(sqs, queue_url, seconds=60)
    wait_for(lambda: (tmp_path / "started" / job).exists(), 15, "the job to start")
    service.signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0
    assert (tmp_path / "cancelled" / job).exists(), "the runner's cancel event was not set"
    assert not (tmp_path / "done" / job).exists()
    # Released at once (visibility 0): the next receive gets it, well before 3 s.
    response = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)
    assert [m["MessageId"] for m in response.get("Messages", [])] == [job]
    assert "cancelled by shutdown" in service.log_text()


def test_sigint_is_graceful_too(fake_service):
    service = fake_service()
    service.signal(signal.SIGINT)
    assert service.wait(timeout=30) == 0


def test_an_invalid_message_goes_to_the_dead_letter_queue(fake_service, sqs, queue_url, tmp_path):
    dlq = sqs.create_queue(QueueName=queue_url.rsplit("/", 1)[1] + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
        },
    )
    service = fake_service()
    job = send(sqs, queue_url, fail="invalid")

    def in_dlq():
        response = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1)
        return [m["MessageId"] for m in response.get("Messages", [])]

    assert wait_for(in_dlq, 30, "the message in the dead-letter queue") == [job]
    attempts = (tmp_path / "started" / job).read_text().count("\n")
    assert attempts == 2
    failures = [r for r in service.log_records() if r.get("job") == job and r.get("code") == 15007]
    assert failures and all(r["reason"] == "invalid_message" for r in failures)
    assert "dead-letter" in failures[0]["message"]


def test_a_retryable_failure_is_retried_soon(fake_service, sqs, queue_url, tmp_path):
    service = fake_service()
    job = send(sqs, queue_url, seconds=0.1, fail="retryable")
    # retry delay 1 s * 2**(receives-1): the second delivery comes after ~1 s, not 3 s.
    wait_for(
        lambda: (
            (tmp_path / "started" / job).exists()
            and (tmp_path / "started" / job).read_text().count("\n") >= 2
        ),
        10,
        "a second delivery",
    )
    assert service.metric("recording_storage_jobs_failed_total", reason="retryable") >= 1
