"""``sqs.receiveBatch``: one receive for several jobs, their deletes in one batch -- and still
every message deleted only after its own job succeeded, none visible to another worker while
held, the waiting ones given back on close. Over the moto server (real SQS protocol), counted
by the bench's SQS proxy."""

from __future__ import annotations

import threading
import time

import boto3
import pytest

from recording_storage.aws.sqs import SqsConsumer
from scripts.bench.counting import CountingProxy, sqs_operation

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def queue(moto_server):
    proxy = CountingProxy(moto_server.url, sqs_operation).start()
    client = moto_server.client("sqs")
    url = client.create_queue(QueueName=f"batch-{time.time_ns()}")["QueueUrl"]
    through_proxy = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-central-1"
    ).client("sqs", endpoint_url=proxy.url)
    try:
        yield client, through_proxy, url, proxy
    finally:
        proxy.stop()


def send(client, url: str, count: int) -> None:
    client.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"job-{i}"} for i in range(count)]
    )


def in_queue(client, url: str) -> tuple[int, int]:
    attributes = client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]))  # fmt: skip


def test_five_jobs_cost_one_receive_and_one_delete(queue):
    plain, counted, url, proxy = queue
    send(plain, url, 5)
    consumer = SqsConsumer(counted, url, wait_seconds=1, receive_batch=10)
    stop = threading.Event()
    bodies = []
    while len(bodies) < 5:
        message = consumer.receive(stop)
        assert message is not None
        bodies.append(message.body)
        consumer.delete(message)  # the job succeeded
        if len(bodies) < 5:  # finished but not deleted yet: still invisible, not gone
            assert in_queue(plain, url) == (0, 5)
    assert sorted(bodies) == [f"job-{i}" for i in range(5)]
    assert in_queue(plain, url) == (0, 0)
    consumer.close()
    counts = proxy.snapshot()
    assert counts["ReceiveMessage"] <= 2 and counts["DeleteMessageBatch"] == 1, counts
    assert "DeleteMessage" not in counts


def test_a_failed_job_is_not_deleted_with_the_others(queue):
    plain, counted, url, _ = queue
    send(plain, url, 3)
    consumer = SqsConsumer(counted, url, wait_seconds=1, receive_batch=10)
    stop = threading.Event()
    failed = None
    for index in range(3):
        message = consumer.receive(stop)
        if index == 1:
            failed = message
            consumer.change_visibility(message, 0)  # retryable failure: visible again now
        else:
            consumer.delete(message)
    consumer.close()
    again = plain.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert [m["Body"] for m in again["Messages"]] == [failed.body]


def test_close_deletes_the_finished_and_gives_the_waiting_back(queue):
    plain, counted, url, _ = queue
    send(plain, url, 4)
    consumer = SqsConsumer(counted, url, wait_seconds=1, receive_batch=10)
    first = consumer.receive(threading.Event())
    consumer.delete(first)
    consumer.close()  # e.g. the worker stops after one job
    back = plain.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    bodies = sorted(m["Body"] for m in back.get("Messages", []))
    assert first.body not in bodies and len(bodies) == 3


def test_a_long_job_keeps_the_whole_batch_invisible(queue):
    plain, counted, url, proxy = queue
    send(plain, url, 3)
    consumer = SqsConsumer(counted, url, wait_seconds=1, visibility_seconds=3, receive_batch=10)
    running = consumer.receive(threading.Event())
    with consumer.keep_invisible(running):
        # Three visibility timeouts: without the extension another worker gets them.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            other = plain.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            assert not other.get("Messages"), "a held message became visible"
    assert proxy.snapshot()["ChangeMessageVisibilityBatch"] >= 2
    consumer.delete(running)
    consumer.close()
    back = plain.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert len(back.get("Messages", [])) == 2  # the two waiting ones, given back


def test_short_jobs_renew_the_waiting_ones_too(queue):
    """Jobs shorter than the extender's interval never give it a turn; the batch as a whole
    outlives the visibility timeout and must still stay invisible."""
    plain, counted, url, proxy = queue
    send(plain, url, 6)
    consumer = SqsConsumer(counted, url, wait_seconds=1, visibility_seconds=3, receive_batch=10)
    stop = threading.Event()
    for _ in range(6):  # 6 x 0.9 s = 5.4 s > 3 s, each job shorter than the 1 s interval
        message = consumer.receive(stop)
        with consumer.keep_invisible(message):
            time.sleep(0.9)
            assert in_queue(plain, url)[0] == 0, "a held message became visible"
        consumer.delete(message)
    consumer.close()
    assert in_queue(plain, url) == (0, 0)
    assert proxy.snapshot()["ChangeMessageVisibilityBatch"] >= 1
