"""The process model over real processes, real SQS (moto server) and real HTTP, with a fake
job runner (tests/service/fake_serve.py): the master's supervision, heartbeats, restarts,
SQS settlement, health and metrics, and graceful shutdown."""

from __future__ import annotations

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
    wait_for(lambda: service.metric("recording_storage_jobs_succeeded_total") == 3, 10,
             "3 successes in /metrics")  # fmt: skip
    assert service.metric("recording_storage_jobs_received_total") == 3
    assert service.metric("recording_storage_bytes_transferred_total") == 3003
    assert service.metric("recording_storage_transfer_duration_seconds_count") == 3
    records = service.log_records()
    profiling = [r for r in records if r.get("code") == 15008]
    assert {r["job"] for r in profiling} == set(ids)
    assert all(r["bytes"] > 0 and "throughput_mib_s" in r for r in profiling)
    assert any(r.get("code") == 15000 for r in records)
