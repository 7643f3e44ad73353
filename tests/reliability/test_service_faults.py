"""``recording-storage serve`` under SQS and process faults (subprocesses, the moto server,
the DRACOON emulator). The hung worker and the SIGTERM-cancel cases live in
tests/service/test_end_to_end.py; these cover the rest of issue 9's list."""

from __future__ import annotations

import hashlib
import json
import os
import signal

import pytest

from tests.jobs.conftest import CHUNK
from tests.service.support import queue_counts, wait_for
from tests.support.fault_proxy import ProxyRule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SLOW_CHUNKS = {"method": "POST", "path": r"^/api/v4/uploads/[^/]+$", "latency_ms": 700}


def _empty(deployment) -> bool:
    return queue_counts(deployment.sqs, deployment.queue_url) == (0, 0)


def _received(deployment, job: str) -> list[dict]:
    return [r for r in deployment.records(job, 15006) if "received" in r["message"]]


def _ended(deployment, job: str) -> list[dict]:
    """The runs of ``job`` that ended, done or failed."""
    done = [r for r in deployment.records(job, 15006) if " done: " in r["message"]]
    return done + deployment.records(job, 15013)


def test_sqs_receive_errors_are_retried_with_backoff(deployment):
    world = deployment.world
    rule = ProxyRule("error", operation="ReceiveMessage", status=400, code="QueueDoesNotExist",
                     message="The specified queue does not exist.", count=3)  # fmt: skip
    world.proxy.add(rule)
    data = os.urandom(CHUNK + 1)
    job = deployment.send("rec/receive.mp4", data)
    service = deployment.start(sqs_via_proxy=True)

    wait_for(lambda: _empty(deployment) and world.files(), 60, "the job after receive errors")
    world.assert_one_correct_file(data)
    assert rule.fired == 3
    errors = [r for r in deployment.records(code=15005) if "receiving" in r["message"]]
    assert len(errors) == 3 and all(r["retry_in_seconds"] > 0 for r in errors)
    assert "workers.FileTransferer.queue" in errors[0]["message"]  # says what to check
    assert len(_received(deployment, job)) == 1
    assert service.metric("recording_storage_sqs_errors_total", operation="receive") == 3


def test_failing_visibility_extensions_and_a_second_instance_leave_one_file(deployment):
    """Extensions fail, so the message reappears while its job runs and a second service
    instance runs it too, at the same time: the duplicate rule leaves one file. (Two workers
    of one instance behave the same; test_concurrent_runs.py runs two runners directly.)"""
    world = deployment.world
    world.proxy.add(ProxyRule("error", operation="ChangeMessageVisibility", status=500,
                              code="InternalError"))  # fmt: skip
    world.faults(SLOW_CHUNKS)
    data = os.urandom(8 * CHUNK)
    deployment.start(sqs_via_proxy=True)
    deployment.start(sqs_via_proxy=True)
    job = deployment.send("rec/visibility.mp4", data)

    wait_for(lambda: len(_received(deployment, job)) >= 2, 60, "a second concurrent delivery")
    wait_for(lambda: _empty(deployment), 90, "the message deleted")
    wait_for(lambda: not [u for u in world.open_uploads()], 30, "both uploads finished")
    # The later run removes its copy after its upload: wait until both runs have ended.
    wait_for(lambda: len(_ended(deployment, job)) >= 2, 60, "both runs ended")
    world.assert_one_correct_file(data)
    assert not world.bucket.exists("rec/visibility.mp4")
    assert deployment.records(code=15005)  # the failed extensions were logged
    assert deployment.records(job, 15007) == []  # no delivery failed, none was dead-lettered


def test_a_job_that_cannot_succeed_ends_in_the_dead_letter_queue(deployment):
    world = deployment.world
    sqs = deployment.sqs
    dlq = sqs.create_queue(QueueName=deployment.queue_url.rsplit("/", 1)[1] + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}
    sqs.set_queue_attributes(QueueUrl=deployment.queue_url,
                             Attributes={"RedrivePolicy": json.dumps(policy)})  # fmt: skip
    world.set_instance(**{"recordings.dracoon.password": "wrong"})
    job = deployment.send("rec/dlq.mp4", b"d" * 3000)
    deployment.start()

    def in_dlq():
        return sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0).get("Messages")

    [moved] = wait_for(in_dlq, 60, "the message in the dead-letter queue")
    assert moved["MessageId"] == job
    failures = deployment.records(job, 15007)
    assert failures and all("dead-letter" in r["message"] for r in failures)
    assert all(r["reason"] == "permanent" for r in failures)
    assert world.bucket.get("rec/dlq.mp4") == b"d" * 3000
    assert world.files() == []


def test_sigkill_of_a_worker_in_the_middle_of_a_200_mb_transfer(deployment):
    world = deployment.world
    block = os.urandom(1 << 20)
    data = b"".join(i.to_bytes(8, "big") + block[8:] for i in range(200))  # 200 MiB
    digest = hashlib.sha256(data).hexdigest()
    job = deployment.send("rec/big.mp4", data)
    del data
    service = deployment.start(
        RS_S3_CHUNKSIZE=str(8 << 20),
        RECORDING_STORAGE_SQS_VISIBILITY_SECONDS="10",
        RECORDING_STORAGE_HEARTBEAT_TIMEOUT="30",  # a busy CPU must not look like a hang
    )
    worker = service.current_pid("file_transferer-1")

    def halfway():
        return [u for u in world.open_uploads()] and world.proxy.count("GET", "big.mp4") >= 8

    wait_for(halfway, 120, "the transfer to be well under way")
    os.kill(worker, signal.SIGKILL)

    wait_for(lambda: len(service.worker_pids("file_transferer-1")) == 2, 30, "a replacement")
    wait_for(lambda: _empty(deployment) and world.files(), 180, "the job after redelivery")
    [file] = world.files()
    assert file["size"] == 200 << 20
    assert _download_digest(world, file["id"]) == digest
    assert not world.bucket.exists("rec/big.mp4")
    assert world.proxy.count("DELETE", "big.mp4") == 1  # deleted once, after the transfer
    assert len(_received(deployment, job)) == 2
    # The killed worker could not cancel its channel; DRACOON expires such channels itself.
    assert len(world.open_uploads()) == 1


def test_sigkill_of_the_whole_service_and_a_restart(deployment):
    world = deployment.world
    world.faults(SLOW_CHUNKS)
    data = os.urandom(6 * CHUNK)
    job = deployment.send("rec/restart.mp4", data)
    first = deployment.start()
    wait_for(lambda: world.open_uploads(), 30, "the upload to start")
    os.killpg(first.pid, signal.SIGKILL)  # master and workers at once
    first.wait(timeout=10)
    world.faults()

    deployment.start()
    wait_for(lambda: _empty(deployment) and world.files(), 60, "the job after the restart")
    [file] = world.files()
    assert world.download_as("bob", file["id"]) == data
    assert not world.bucket.exists("rec/restart.mp4")
    assert len(_received(deployment, job)) == 2


def test_sigterm_lets_a_running_transfer_finish_within_the_grace_period(deployment):
    world = deployment.world
    world.faults(SLOW_CHUNKS)
    data = os.urandom(3 * CHUNK)
    job = deployment.send("rec/term.mp4", data)
    service = deployment.start(RECORDING_STORAGE_GRACEFUL_TIMEOUT="30")
    wait_for(lambda: world.open_uploads(), 30, "the upload to start")

    service.signal(signal.SIGTERM)
    assert service.wait(timeout=60) == 0
    world.assert_one_correct_file(data)
    assert _empty(deployment)
    assert [r for r in deployment.records(job, 15006) if "done" in r["message"]]


def test_two_service_instances_on_one_queue_do_every_job_once(deployment):
    world = deployment.world
    deployment.start(transferers=2)
    deployment.start(transferers=2)
    jobs = {}
    for i in range(50):  # five rooms, created by whichever worker comes first
        data = os.urandom(1000 + i)
        key = f"rec/many-{i}.mp4"
        jobs[deployment.send(key, data, path=f"batch/{i % 5}")] = (key, data)

    wait_for(lambda: _empty(deployment), 150, "every job done")
    rooms = [n for n in world.nodes() if n["path"].startswith("/Recordings/batch/")]
    assert sorted(r["path"] for r in rooms if r["type"] == "room") == [
        f"/Recordings/batch/{i}" for i in range(5)
    ]
    files = [n for n in world.nodes() if n["type"] == "file"]
    assert len(files) == 50 and len({(f["parentId"], f["name"]) for f in files}) == 50
    with world.client_as("alice") as alice:
        by_name = {f["name"]: f for f in files}
        for key, data in jobs.values():
            assert _download(alice, by_name[key.rsplit("/", 1)[1]]["id"]) == data
    assert world.bucket.list_keys() == []
    for job in jobs:
        assert len(deployment.records(job, 15008)) == 1, job  # done exactly once
    for service in deployment.services:  # both instances took part
        assert service.metric("recording_storage_jobs_succeeded_total") > 0


def _download(client, file_id: int) -> bytes:
    import io

    out = io.BytesIO()
    client.download(file_id, out)
    return out.getvalue()


class _HashSink:
    def __init__(self):
        self.hash = hashlib.sha256()

    def write(self, data):
        self.hash.update(data)
        return len(data)


def _download_digest(world, file_id: int) -> str:
    sink = _HashSink()
    with world.client_as("alice") as alice:
        alice.download(file_id, sink)
    return sink.hash.hexdigest()
