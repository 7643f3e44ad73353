"""``/metrics`` of a running service, scraped over HTTP: names, initial zeros, the new series.

Two services: the real master with fake work (fast; known label sets, redeliveries, last
success per instance) and the real ``serve`` against the DRACOON emulator and moto (the
DRACOON latency histogram). Where ``promtool`` is installed, its metric linter checks the
exposition too (Prometheus naming conventions).
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import time
from importlib.metadata import version

import pytest
from prometheus_client.parser import text_string_to_metric_families

from recording_storage.ops import metrics as m
from tests.jobs.conftest import DOMAIN
from tests.service.support import wait_for
from tests.service.test_end_to_end import live  # noqa: F401 - the real-serve fixture
from tests.support.paths import PROJECT_ROOT

VALID_JOB = json.loads((PROJECT_ROOT / "scripts" / "demo" / "message.json").read_text())
INSTANCE = VALID_JOB["instance"]["domain"]


def families(service) -> dict[str, object]:
    status, body = service.get("/metrics")
    assert status == 200
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def promtool_problems(exposition: bytes) -> list[str]:
    """``promtool check metrics`` findings (its linter of naming conventions)."""
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=exposition, capture_output=True, timeout=60
    )
    problems = [line for line in result.stderr.decode().splitlines() if line.strip()]
    return problems or ([f"promtool exited {result.returncode}"] if result.returncode else [])


needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is not installed (apt: prometheus)"
)


def test_known_labels_start_at_zero_and_build_info_names_the_version(fake_service):
    service = fake_service(transferers=2, sharer=1)
    samples = service.metrics()
    for reason in m.REASONS:
        assert samples[("recording_storage_jobs_failed_total", (("reason", reason),))] == 0
    for outcome in m.SHARER_OUTCOMES:
        assert ("recording_storage_sharer_runs_total", (("outcome", outcome),)) in samples
    for name in m.RETRY_SERVICES:
        assert samples[("recording_storage_retries_total", (("service", name),))] == 0
    for worker in ("file_transferer-1", "file_transferer-2", "dracoon_global_sharer"):
        for cause in m.RESTART_CAUSES:
            key = (
                "recording_storage_worker_restarts_total",
                (("cause", cause), ("worker", worker)),
            )
            assert samples[key] == 0, key
    assert samples[("recording_storage_jobs_redelivered_total", ())] == 0
    assert samples[("recording_storage_transfers_in_flight", ())] == 0
    build = [
        labels
        for (name, labels), value in samples.items()
        if name == "recording_storage_build_info" and value == 1
    ]
    assert build == [
        (("python_version", platform.python_version()), ("version", version("recording-storage")))
    ]


def test_redeliveries_and_the_last_success_per_instance_are_counted(fake_service, sqs, queue_url):
    service = fake_service()
    before = time.time()
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({**VALID_JOB, "seconds": 0.1}))
    wait_for(lambda: service.metric("recording_storage_jobs_succeeded_total") == 1, 30, "a success")
    stamp = service.metric("recording_storage_last_success_timestamp_seconds", instance=INSTANCE)
    assert before <= stamp <= time.time()
    assert service.metric("recording_storage_jobs_redelivered_total") == 0

    # A retryable failure comes back after RETRY_DELAY_SECONDS: that delivery is a redelivery.
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"fail": "retryable"}))
    wait_for(
        lambda: service.metric("recording_storage_jobs_redelivered_total") >= 1,
        30,
        "a redelivery",
    )
    assert service.metric("recording_storage_jobs_failed_total", reason="retryable") >= 1
    # A failing job does not move the last success.
    assert (
        service.metric("recording_storage_last_success_timestamp_seconds", instance=INSTANCE)
        == stamp
    )


@needs_promtool
def test_promtool_accepts_the_exposition(fake_service):
    service = fake_service()
    status, body = service.get("/metrics")
    assert status == 200
    assert promtool_problems(body) == []


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_real_serve_exports_dracoon_latency_by_operation_and_last_success(live):  # noqa: F811
    import os

    service = live.start()
    live.send("metrics/video.mp4", os.urandom(1000))
    wait_for(lambda: len(live.files()) == 1, 60, "the file in DRACOON")
    wait_for(
        lambda: service.metric("recording_storage_jobs_succeeded_total") == 1, 15, "the success"
    )
    latency = families(service)["recording_storage_dracoon_request_duration_seconds"]
    counts = {s.labels["operation"]: s.value for s in latency.samples if s.name.endswith("_count")}
    assert counts, "no DRACOON request was timed"
    # Operations are "METHOD endpoint" with ids masked: a bounded label set.
    for operation in counts:
        method, endpoint = operation.split(" ", 1)
        assert method in {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"}, operation
        assert not any(part.isdigit() for part in endpoint.split("/")), operation
    assert any(op.startswith("POST ") and "upload" in op for op in counts), counts
    assert service.metric("recording_storage_last_success_timestamp_seconds", instance=DOMAIN) > 0
    assert service.metric("recording_storage_transfers_in_flight") == 0
    if shutil.which("promtool"):
        assert promtool_problems(service.get("/metrics")[1]) == []
