"""Unit tests of the process model's pure parts: settlement rules, backoff, health verdict,
options, metrics hooks; and the SQS consumer's error path against the moto server."""

from __future__ import annotations

import logging
import uuid

import pytest
from botocore.awsrequest import AWSResponse

from recording_storage.aws.sqs import Backoff, SqsConsumer, error_code, is_missing_queue
from recording_storage.jobs.errors import InvalidMessageError, JobError, classify_failure
from recording_storage.ops import metrics as m
from recording_storage.ops.health import ProbeResult, dracoon_version_url, verdict
from recording_storage.workers.file_transferer import retry_delay
from recording_storage.workers.options import SupervisionOptions


def test_failure_classification():
    invalid = InvalidMessageError("storage.type", "missing")
    assert classify_failure(invalid, cancelled=False) == "invalid_message"
    assert classify_failure(invalid, cancelled=True) == "invalid_message"
    assert classify_failure(JobError("503"), cancelled=False) == "retryable"
    assert classify_failure(JobError("gone", retryable=False), cancelled=False) == "permanent"
    assert classify_failure(JobError("cancelled"), cancelled=True) == "cancelled"
    assert classify_failure(RuntimeError("bug"), cancelled=False) == "internal"


def test_retry_delay_doubles_per_receive_and_is_capped():
    options = SupervisionOptions(retry_delay_seconds=30, retry_delay_max_seconds=900)
    assert [retry_delay(options, n) for n in (1, 2, 3, 4, 5, 6, 50)] == [
        30,
        60,
        120,
        240,
        480,
        900,
        900,
    ]


def test_backoff_grows_with_jitter_and_resets():
    backoff = Backoff(initial=1, maximum=8)
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next_delay() <= 1


def probe(name, ok=True, age=0.0, now=1000.0):
    return ProbeResult(name, ok, "" if ok else "down", now - age, 0.01)


ALL_OK = {n: probe(n) for n in ("sqs", "s3", "configurator", "dracoon")}
WORKERS = {"file_transferer", "dracoon_global_sharer"}


def test_verdict_success_and_the_order_of_failures():
    ok = {"file_transferer": True, "dracoon_global_sharer": True}
    assert verdict(ok, ALL_OK, now=1000, max_age=60, expected_workers=WORKERS) == (
        200,
        {"status": "success"},
    )
    everything_down = {n: probe(n, ok=False) for n in ALL_OK}
    answer = verdict({}, everything_down, now=1000, max_age=60, expected_workers=WORKERS)
    assert answer == (500, {"error": "worker_error_file_transferer", "status": "error"})
    answer = verdict(
        {"file_transferer": True}, everything_down, now=1000, max_age=60, expected_workers=WORKERS
    )
    assert answer[1]["error"] == "worker_error_dracoon_global_sharer"
    answer = verdict(ok, everything_down, now=1000, max_age=60, expected_workers=WORKERS)
    assert answer[1]["error"] == "sqs_error"
    answer = verdict(
        ok,
        {**ALL_OK, "dracoon": probe("dracoon", ok=False)},
        now=1000,
        max_age=60,
        expected_workers=WORKERS,
    )
    assert answer == (500, {"error": "dracoon_error", "status": "error"})


def test_verdict_stale_or_missing_probes_fail_and_the_sharer_is_optional():
    ok = {"file_transferer": True}
    stale = {**ALL_OK, "s3": probe("s3", age=61)}
    assert verdict(ok, stale, now=1000, max_age=60, expected_workers={"file_transferer"})[1] == {
        "error": "s3_error",
        "status": "error",
    }
    missing = {k: v for k, v in ALL_OK.items() if k != "configurator"}
    answer = verdict(ok, missing, now=1000, max_age=60, expected_workers={"file_transferer"})
    assert answer[1]["error"] == "configurator_error"
    answer = verdict(ok, ALL_OK, now=1000, max_age=60, expected_workers={"file_transferer"})
    assert answer[0] == 200


def test_probe_result_round_trip():
    result = probe("sqs", ok=False)
    assert ProbeResult.from_json(result.to_json()) == result


def test_dracoon_version_url_accepts_both_base_forms():
    expected = "https://dracoon.team/api/v4/public/software/version"
    assert dracoon_version_url("https://dracoon.team/api/v4") == expected
    assert dracoon_version_url("https://dracoon.team/") == expected


def test_options_from_settings_then_environment():
    from recording_storage.config import load_settings

    settings = load_settings(None, env={
        "RS_SQS_WAITTIMESECONDS": "10",
        "RS_SQS_VISIBILITYTIMEOUTSECONDS": "600",
        "RS_WORKERS_SHUTDOWNGRACESECONDS": "45",
    })  # fmt: skip
    options = SupervisionOptions.from_settings(settings, env={})
    assert (options.sqs_wait_seconds, options.sqs_visibility_seconds) == (10, 600)
    assert options.graceful_timeout == 45
    options = SupervisionOptions.from_settings(
        settings,
        env={
            "RECORDING_STORAGE_HEARTBEAT_TIMEOUT": "7.5",
            "RECORDING_STORAGE_SQS_VISIBILITY_SECONDS": "30",
        },
    )
    assert options.heartbeat_timeout == 7.5 and options.sqs_visibility_seconds == 30
    with pytest.raises(ValueError, match="RECORDING_STORAGE_TICK"):
        SupervisionOptions().with_env({"RECORDING_STORAGE_TICK": "soon"})
    with pytest.raises(ValueError, match="negative"):
        SupervisionOptions().with_env({"RECORDING_STORAGE_TICK": "-1"})
    with pytest.raises(ValueError, match="RECORDING_STORAGE_TICK='0': must be between"):
        SupervisionOptions().with_env({"RECORDING_STORAGE_TICK": "0"})  # would spin


def test_options_from_real_settings():
    from recording_storage.config import load_settings

    settings = load_settings(None, env={"RS_WORKERS_SHUTDOWNGRACESECONDS": "12"})
    options = SupervisionOptions.from_settings(settings, env={})
    assert options.graceful_timeout == 12
    assert options.sqs_visibility_seconds == settings.sqs.visibility_timeout_seconds


def sample(counter, **labels) -> float:
    for family in counter.collect():
        for s in family.samples:
            if s.name.endswith("_total") and s.labels == labels:
                return s.value
    return 0.0


def test_dracoon_events_count_errors_and_retries():
    metrics = m.service_metrics()
    events = m.DracoonMetricsEvents()
    before = sample(metrics.dracoon_request_errors, method="POST", status="503")
    retries = sample(metrics.retries, service="dracoon")
    events.on_response("POST", "/v4/nodes/files/uploads", 503, 0.1)
    events.on_response("GET", "/v4/user/account", 200, 0.1)
    events.on_retry("POST", "/v4/nodes/files/uploads", "503")
    assert sample(metrics.dracoon_request_errors, method="POST", status="503") == before + 1
    assert sample(metrics.retries, service="dracoon") == retries + 1


def test_boto3_hooks_count_s3_errors(moto_server):
    metrics = m.service_metrics()
    s3 = moto_server.client("s3")
    m.attach_boto3_metrics(s3, "s3")
    before = sample(metrics.s3_request_errors, operation="HeadBucket", status="404")
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_bucket(Bucket=f"missing-{uuid.uuid4().hex[:8]}")
    assert sample(metrics.s3_request_errors, operation="HeadBucket", status="404") == before + 1


class _Body:
    """The raw stream of a canned botocore response."""

    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_):
        yield self.data


def test_boto3_hooks_count_a_retried_s3_503(moto_server, s3_bucket):
    """One 503 SlowDown, then the real answer: botocore retries once, retries_total{s3} + 1."""
    metrics = m.service_metrics()
    s3 = moto_server.client("s3")
    m.attach_boto3_metrics(s3, "s3")
    answered = []

    def slow_down_once(request, **_):
        if answered:
            return None  # send it to moto
        answered.append(request.url)
        body = b"<Error><Code>SlowDown</Code><Message>Reduce your rate.</Message></Error>"
        return AWSResponse(request.url, 503, {"Content-Length": str(len(body))}, _Body(body))

    s3.meta.events.register("before-send.s3.HeadBucket", slow_down_once)
    retries = sample(metrics.retries, service="s3")
    errors = sample(metrics.s3_request_errors, operation="HeadBucket", status="503")

    answer = s3.head_bucket(Bucket=s3_bucket.name)

    assert answered and answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert sample(metrics.retries, service="s3") == retries + 1
    # The request succeeded in the end: it is a retry, not a failed request.
    assert sample(metrics.s3_request_errors, operation="HeadBucket", status="503") == errors


class RecordingStop:
    def __init__(self):
        self.waits = []

    def is_set(self):
        return False

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return False


def test_receive_errors_are_logged_and_backed_off_never_spun(moto_server, caplog):
    sqs = moto_server.client("sqs")
    url = sqs.create_queue(QueueName=f"gone-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    counted = []
    consumer = SqsConsumer(
        sqs,
        url,
        wait_seconds=0,
        backoff=Backoff(initial=1, maximum=4),
        count_error=lambda op, code: counted.append((op, code)),
    )
    stop = RecordingStop()
    with caplog.at_level(logging.ERROR):
        results = [consumer.receive(stop) for _ in range(4)]
    assert results == [None] * 4
    assert len(stop.waits) == 4 and all(w > 0 for w in stop.waits)  # slept after every failure
    assert stop.waits[3] > stop.waits[0] * 1.5 or stop.waits[3] >= 2
    assert all(op == "receive" and is_missing_queue(code) for op, code in counted)
    records = [r for r in caplog.records if getattr(r, "code", None) == 15005]
    assert len(records) == 4 and "topics.yml" in records[0].getMessage()


def test_consumer_round_trip_on_a_real_queue(moto_server):
    sqs = moto_server.client("sqs")
    url = sqs.create_queue(QueueName=f"rt-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    consumer = SqsConsumer(sqs, url, wait_seconds=1, visibility_seconds=30)
    message = consumer.receive(RecordingStop())
    assert message.body == "{}" and message.receive_count == 1
    assert "receipt_handle" not in repr(message)
    assert consumer.change_visibility(message, 0)
    again = consumer.receive(RecordingStop())
    assert again.message_id == message.message_id and again.receive_count == 2
    assert consumer.delete(again)
    assert consumer.receive(RecordingStop()) is None


def test_error_code_names():
    from botocore.exceptions import ClientError, EndpointConnectionError

    throttled = ClientError({"Error": {"Code": "RequestThrottled"}}, "ReceiveMessage")
    assert error_code(throttled) == "RequestThrottled"
    assert error_code(EndpointConnectionError(endpoint_url="http://x")) == (
        "EndpointConnectionError"
    )


def test_verdict_while_starting_names_no_probe_but_a_failed_worker():
    ok = {"file_transferer": True, "dracoon_global_sharer": True}
    answer = verdict(ok, {}, now=1000, max_age=60, expected_workers=WORKERS, started=False)
    assert answer == (500, {"error": "starting", "status": "error"})
    answer = verdict({}, {}, now=1000, max_age=60, expected_workers=WORKERS, started=False)
    assert answer[1]["error"] == "starting"  # no slot published yet: not an error
    dead = {"file_transferer": False, "dracoon_global_sharer": True}
    answer = verdict(dead, {}, now=1000, max_age=60, expected_workers=WORKERS, started=False)
    assert answer[1]["error"] == "worker_error_file_transferer"


def test_sigterm_stops_a_worker_without_touching_the_shared_stop_event():
    """The handler runs in the main thread, perhaps while it holds the event's lock: setting
    a multiprocessing.Event there can deadlock, so SIGTERM only sets StopFlag's attribute."""
    import queue
    import signal
    import threading

    from recording_storage.workers.base import (
        KIND_GLOBAL_SHARER,
        Worker,
        WorkerChannel,
        _Interrupted,
    )

    class Untouchable:
        def is_set(self):
            return False

        def set(self):
            raise AssertionError("set() from a signal handler can deadlock")

    channel = WorkerChannel("w", KIND_GLOBAL_SHARER, queue.Queue(), Untouchable(),
                            threading.Event(), 0)  # fmt: skip
    worker = Worker(channel, heartbeat_interval=1.0)
    assert not worker.stop_flag.is_set()
    with pytest.raises(_Interrupted), worker.interruptible():
        worker._on_sigterm(signal.SIGTERM, None)  # an idle wait is interrupted at once
    assert worker.stop_flag.is_set() and worker.stop_flag.wait(0)
    with pytest.raises(_Interrupted), worker.interruptible():  # no new idle wait either
        pass
