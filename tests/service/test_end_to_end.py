"""``recording-storage serve`` as a subprocess over real protocols: the moto server (SQS + S3),
the DRACOON emulator and a file configurator. Files are checked by downloading and decrypting
them as another room member."""

from __future__ import annotations

import json
import os
import re
import signal
import uuid

import pytest

from tests.jobs.conftest import CHUNK, DOMAIN, Service, readme_message
from tests.service.support import (
    ANY_PORT,
    FAST_OPTIONS,
    ServiceProcess,
    queue_counts,
    wait_for,
)
from tests.support.emulator_fixtures import encryption_password, login_password

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SLOW_CHUNKS = {"method": "POST", "path": r"/uploads/[^/]+$", "latency_ms": 1000}


class Live:
    """The test's world: the emulator, the bucket and queue, and the running service."""

    def __init__(self, setup: Service, bucket, sqs, queue_url: str, http: str):
        self.setup = setup
        self.bucket = bucket
        self.sqs = sqs
        self.queue_url = queue_url
        self.http = http
        self.process: ServiceProcess | None = None

    def start(self, **env: str) -> ServiceProcess:
        argv = [os.sys.executable, "-m", "recording_storage.cli", "--config",
                str(self.setup.conf), "serve"]  # fmt: skip
        self.process = ServiceProcess(
            argv,
            env={**self.setup.env, **FAST_OPTIONS, **env},
            log_path=self.setup.tmp_path / "service.log",
            http=self.http,
        ).start()
        self.process.wait_listening(timeout=60)
        return self.process

    def send(self, key: str, data: bytes, path: str = "rec") -> str:
        self.bucket.put(key, data)
        message = readme_message(bucket=self.bucket.name, keys=[key], targets=[{"path": path}])
        return self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message))[
            "MessageId"
        ]

    def files(self, path: str = "rec") -> list[dict]:
        try:
            return self.setup.files_in(f"/Recordings/{path}")
        except AssertionError:  # the room does not exist yet
            return []

    def faults(self, *rules: dict) -> None:
        if rules:
            self.setup.admin("POST", "/emulator/faults", {"rules": list(rules)})
        else:
            self.setup.admin("DELETE", "/emulator/faults")

    def job_records(self, job: str, code: int | None = None) -> list[dict]:
        return [
            r
            for r in self.process.log_records()
            if r.get("job") == job and (code is None or r.get("code") == code)
        ]


@pytest.fixture
def live(emulator, moto_server, s3_bucket, tmp_path):
    sqs = moto_server.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"recordings-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    http = ANY_PORT
    instances_path = tmp_path / "instances.yaml"
    conf = tmp_path / "app.conf"
    (tmp_path / "pubsub" / "sqs").mkdir(parents=True)
    (tmp_path / "pubsub" / "sqs" / "topics.yml").write_text(f"recordings: {queue_url}\n")
    conf.write_text(
        "logger.level = INFO\n"
        "logger.format = json\n"
        f"configurator.url = file://{instances_path}\n"
        f"s3.chunkSize = {CHUNK}\n"
        "s3.removeAfterTransferring = true\n"
        f"s3.allowedBuckets = {s3_bucket.name}\n"
        "workers.FileTransferer.count = 1\n"
        "workers.FileTransferer.queue = recordings\n"
        "workers.DracoonGlobalSharer.count = 1\n"
        f"dracoon.baseUrl = {emulator.api_url}\n"
        f"http.address = {http}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_"))}
    env.update(moto_server.env)
    setup = Service(emulator, tmp_path, env, conf, instances_path)
    recordings = setup.node("/Recordings")
    setup.set_instance(
        DOMAIN,
        **{
            "recordings.storage": "dracoon",
            "recordings.dracoon.base-url": emulator.api_url,
            "recordings.dracoon.parent-room-id": recordings["id"],
            "recordings.dracoon.login": "service",
            "recordings.dracoon.password": login_password("service"),
            "recordings.dracoon.encryption-password": encryption_password("service"),
        },
    )
    world = Live(setup, s3_bucket, sqs, queue_url, http)
    yield world
    if world.process is not None:
        world.process.stop()


def test_jobs_from_sqs_are_transferred_and_their_messages_deleted(live):
    service = live.start()
    wait_for(lambda: service.health() == (200, {"status": "success"}), 30, "a healthy service")
    recordings = {f"r/{i}.mp4": os.urandom(2 * CHUNK + i) for i in range(2)}
    jobs = [live.send(key, data) for key, data in recordings.items()]

    wait_for(lambda: len(live.files()) == 2, 60, "two files in DRACOON")
    wait_for(lambda: queue_counts(live.sqs, live.queue_url) == (0, 0), 15, "an empty queue")
    for file in live.files():
        assert live.setup.download_as("alice", file["id"]) == recordings[f"r/{file['name']}"]
    assert live.bucket.list_keys() == []  # S3 objects removed after the transfer
    wait_for(lambda: service.metric("recording_storage_jobs_succeeded_total") == 2, 10, "metrics")
    assert service.metric("recording_storage_bytes_transferred_total") == sum(
        len(d) for d in recordings.values()
    )
    for job, key in zip(jobs, recordings, strict=True):
        [profile] = live.job_records(job, 15008)
        assert profile["bytes"] > 0 and profile["duration_seconds"] > 0
        # A success says where from, where to, how much and how long (docs/operations.md).
        [done] = [r for r in live.job_records(job, 15006) if "done" in r["message"]]
        for record in (profile, done):
            assert record["instance"] == DOMAIN and record["bucket"] == live.bucket.name
            assert (record["key"], record["keys"]) == (key, [key])
            assert record["rooms"] == ["rec"]
            assert record["bytes"] == len(recordings[key]) and record["seconds"] > 0
    # Secrets never reach the logs or the metrics.
    text = service.log_text() + service.get("/metrics")[1].decode()
    for secret in (login_password("service"), encryption_password("service")):
        assert secret not in text

    service.signal(signal.SIGTERM)
    assert service.wait(timeout=60) == 0


def test_a_long_transfer_keeps_its_message_invisible(live):
    service = live.start()
    live.faults(SLOW_CHUNKS)  # 6 chunks at >= 1 s each, visibility 3 s
    job = live.send("long/video.mp4", os.urandom(6 * CHUNK))
    wait_for(lambda: live.job_records(job, 15006), 30, "the job to start")
    assert live.sqs.receive_message(QueueUrl=live.queue_url, WaitTimeSeconds=5,
                                    VisibilityTimeout=0).get("Messages") is None  # fmt: skip
    wait_for(lambda: len(live.files()) == 1, 60, "the file in DRACOON")
    wait_for(lambda: queue_counts(live.sqs, live.queue_url) == (0, 0), 15, "an empty queue")
    received = [r for r in live.job_records(job, 15006) if "received" in r["message"]]
    assert len(received) == 1, "the message was delivered twice"
    assert service.metric("recording_storage_dracoon_request_errors_total") == 0


def test_a_killed_worker_is_replaced_and_its_job_completes_once(live):
    service = live.start()
    worker = service.current_pid("file_transferer-1")
    live.faults(SLOW_CHUNKS)
    data = os.urandom(6 * CHUNK)
    job = live.send("killed/video.mp4", data)
    wait_for(lambda: live.job_records(job, 15006), 30, "the job to start")
    os.kill(worker, signal.SIGKILL)
    live.faults()

    wait_for(lambda: len(service.worker_pids("file_transferer-1")) == 2, 15, "a replacement")
    wait_for(lambda: len(live.files()) == 1, 60, "the file after redelivery")
    wait_for(lambda: queue_counts(live.sqs, live.queue_url) == (0, 0), 15, "an empty queue")
    [file] = live.files()
    assert live.setup.download_as("bob", file["id"]) == data
    assert live.bucket.list_keys() == []
    assert service.metric("recording_storage_worker_restarts_total", cause="exited") == 1
    [died] = [r for r in service.log_records() if r.get("code") == 15015 and r.get("pid") == worker]
    assert died["job"] == job


def test_a_hung_worker_is_replaced_and_its_job_completes_once(live):
    service = live.start()  # heartbeat timeout 3 s (FAST_OPTIONS)
    worker = service.current_pid("file_transferer-1")
    live.faults(SLOW_CHUNKS)
    data = os.urandom(4 * CHUNK)
    job = live.send("hung/video.mp4", data)
    wait_for(lambda: live.job_records(job, 15006), 30, "the job to start")
    os.kill(worker, signal.SIGSTOP)  # hung: no heartbeats, no progress, no extensions
    live.faults()

    wait_for(lambda: len(live.files()) == 1, 60, "the file after the replacement")
    wait_for(lambda: queue_counts(live.sqs, live.queue_url) == (0, 0), 15, "an empty queue")
    assert live.setup.download_as("alice", live.files()[0]["id"]) == data
    assert service.metric("recording_storage_worker_restarts_total", cause="hung") == 1
    hung = [r for r in service.log_records() if r.get("code") == 15015 and r.get("pid") == worker]
    assert any("sent no heartbeat" in r["message"] for r in hung)


def test_sigterm_with_a_transfer_in_flight_releases_its_message(live):
    service = live.start(RECORDING_STORAGE_GRACEFUL_TIMEOUT="1")
    live.faults(SLOW_CHUNKS)
    job = live.send("term/video.mp4", os.urandom(20 * CHUNK))
    wait_for(lambda: live.job_records(job, 15006), 30, "the job to start")

    service.signal(signal.SIGTERM)
    assert service.wait(timeout=60) == 0
    live.faults()
    assert live.files() == []  # the upload channel was cancelled, nothing was completed
    assert live.bucket.exists("term/video.mp4")
    response = live.sqs.receive_message(QueueUrl=live.queue_url, WaitTimeSeconds=2)
    assert [m["MessageId"] for m in response.get("Messages", [])] == [job]
    assert any("cancelled" in r["message"] for r in live.job_records(job))
    # A normal SIGTERM, even one that cancels a transfer, is no error (docs/operations.md).
    records = service.log_records()
    assert [r for r in records if r["level"] in ("ERROR", "CRITICAL")] == []
    stopping = [r for r in records if "SIGTERM received" in r["message"]]
    assert [(r["code"], r["level"]) for r in stopping] == [(15019, "INFO")]
    assert [r.get("code") for r in records if r["message"] == "master stopped"] == [15019]
    assert not [r for r in records if r.get("code") == 15000 and "stop" in r["message"]]
    iso_utc = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    assert all(iso_utc.match(r["time"]) for r in records)


def test_a_failed_job_is_one_error_with_its_steps_as_warnings(live):
    service = live.start()
    live.faults({"method": "POST", "path": "/nodes/rooms$", "status": 500, "count": 1000})
    job = live.send("fail/video.mp4", os.urandom(CHUNK), path="fail/once")
    wait_for(lambda: live.job_records(job, 15007), 60, "the job to fail")
    live.faults()
    wait_for(lambda: queue_counts(live.sqs, live.queue_url) == (0, 0), 60, "the retry to succeed")
    errors = [r for r in live.job_records(job) if r["level"] in ("ERROR", "CRITICAL")]
    assert errors and errors == live.job_records(job, 15007)  # one ERROR per failed delivery
    for failure in errors:
        assert failure["reason"] == "retryable" and failure["instance"] == DOMAIN
        assert "fail/once" in failure["message"]
    steps = [r for r in live.job_records(job, 15009)]
    assert steps and all(r["level"] == "WARNING" for r in steps)
    assert service.metric("recording_storage_jobs_succeeded_total") == 1


def test_healthcheck_names_each_failing_dependency(live, emulator, moto_server):
    service = live.start()
    wait_for(lambda: service.health() == (200, {"status": "success"}), 30, "a healthy service")
    # Break the dependencies from the last checked to the first, so each becomes the answer.
    emulator.stop()
    wait_for(lambda: service.health()[1].get("error") == "dracoon_error", 15, "dracoon_error")
    live.setup.instances_path.write_text("not: [valid")
    wait_for(lambda: service.health()[1].get("error") == "configurator_error", 15,
             "configurator_error")  # fmt: skip
    moto_server.client("s3").delete_bucket(Bucket=live.bucket.name)
    wait_for(lambda: service.health()[1].get("error") == "s3_error", 15, "s3_error")
    live.sqs.delete_queue(QueueUrl=live.queue_url)
    wait_for(lambda: service.health()[1].get("error") == "sqs_error", 15, "sqs_error")
    status, body = service.health()
    assert status == 500 and body == {"error": "sqs_error", "status": "error"}
    errors = [r for r in service.log_records() if r.get("code") == 15014]
    assert {r["probe"] for r in errors} >= {"dracoon", "configurator", "s3", "sqs"}
    # Receive errors are logged with 15005 and retried with backoff, without spinning.
    wait_for(lambda: [r for r in service.log_records() if r.get("code") == 15005], 15, "15005")
    assert service.metric("recording_storage_worker_restarts_total") == 0
