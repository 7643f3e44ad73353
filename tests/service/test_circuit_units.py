"""Circuit breakers (recording_storage/ops/circuit.py) without processes: opening after N
retryable failures in a row, probing, half-open closing, which failure blames which scope,
and holding messages on a real SQS queue (moto server)."""

from __future__ import annotations

import logging
import time

from recording_storage.aws.s3 import S3Error
from recording_storage.aws.sqs import SqsConsumer
from recording_storage.configurator import ConfiguratorUnavailableError
from recording_storage.dracoon.client.errors import DracoonConnectionError
from recording_storage.jobs.errors import JobError
from recording_storage.ops.circuit import (
    CircuitBreakers,
    MessageHold,
    dracoon_scope,
    failure_scope,
)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def breakers(threshold=3, changes=None):
    clock = Clock()
    on_change = (
        (lambda scope, is_open: changes.append((scope, is_open))) if changes is not None else None
    )
    return CircuitBreakers(threshold, 10.0, clock=clock, on_change=on_change), clock


def test_opens_after_n_failures_in_a_row_and_a_success_resets(caplog):
    changes = []
    b, _ = breakers(changes=changes)
    scope = dracoon_scope("a.example")
    caplog.set_level(logging.INFO)
    assert not b.record_failure(scope, "x") and not b.record_failure(scope, "x")
    b.record_success([scope])  # the count is of failures *in a row*
    assert not b.record_failure(scope, "x") and not b.record_failure(scope, "x")
    assert b.record_failure(scope, "DracoonConnectionError: refused")
    assert b.is_open(scope) and not b.is_open(dracoon_scope("b.example"))
    assert b.global_open() == []  # one instance's DRACOON blocks only its jobs
    assert changes == [(scope, True)]
    [opened] = [r for r in caplog.records if getattr(r, "scope", None) == scope]
    assert opened.levelno == logging.ERROR and opened.code == 15014
    assert "held in the queue" in opened.getMessage()
    assert b.open_circuits()[scope]["state"] == "open"


def test_probes_until_one_succeeds_then_half_open():
    changes = []
    b, clock = breakers(changes=changes)
    for _ in range(3):
        b.record_failure("s3", "S3Error: 503")
    assert b.global_open() == ["s3"]
    assert b.due() == [] and b.seconds_to_next_probe() == 10.0
    clock.now += 10
    assert b.due() == ["s3"]
    assert not b.probed("s3", False, "still down")
    assert b.due() == []  # next probe one interval later
    clock.now += 10
    assert b.probed("s3", True)
    assert b.global_open() == [] and changes == [("s3", True), ("s3", False)]
    assert b.record_failure("s3", "again")  # half-open: one more failure reopens at once


def test_zero_turns_the_breakers_off():
    b, _ = breakers(threshold=0)
    for _ in range(10):
        assert not b.record_failure("s3", "x")
    assert not b.is_open("s3")


def test_failure_scope_blames_the_dependency_in_the_chain():
    def raised(inner, outer):
        try:
            try:
                raise inner
            except Exception:
                raise outer from None
        except Exception as error:
            return error

    s3 = raised(S3Error("503 SlowDown", retryable=True), JobError("s3 failed"))
    assert failure_scope(s3, "a.example") == "s3"
    conf = raised(ConfiguratorUnavailableError("down"), JobError("configurator"))
    assert failure_scope(conf, "a.example") == "configurator"
    dracoon = raised(DracoonConnectionError("refused"), JobError("rooms"))
    assert failure_scope(dracoon, "a.example") == "dracoon:a.example"
    assert failure_scope(dracoon, None) is None  # no instance, no scope
    tagged = JobError("2 target(s) failed")
    tagged.dependency = "dracoon"
    assert failure_scope(tagged, "b.example") == "dracoon:b.example"
    assert failure_scope(JobError("who knows"), "a.example") is None


def test_held_messages_stay_invisible_and_come_back_when_released(moto_server):
    sqs = moto_server.client("sqs")
    url = sqs.create_queue(QueueName=f"hold-{time.monotonic_ns()}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="held")
    consumer = SqsConsumer(sqs, url, wait_seconds=1, visibility_seconds=2)
    hold = MessageHold(consumer, hold_seconds=3, max_held=1)
    try:
        message = consumer.receive(_Never())
        assert hold.hold(message, "dracoon:a.example")
        time.sleep(5)  # past the hold: renewed by the hold's thread, still invisible
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None
        assert hold.release("dracoon:a.example") == 1 and len(hold) == 0
        again = consumer.receive(_Never())
        assert again is not None and again.message_id == message.message_id
        assert again.receive_count == 2  # the outage cost one receive
    finally:
        hold.close()


class _Never:
    def is_set(self):
        return False

    def wait(self, timeout=None):
        return False


def test_refused_credentials_have_a_scope_of_their_own_probed_rarely():
    from recording_storage.dracoon.client.errors import DracoonAuthError, KeyPairError
    from recording_storage.ops.circuit import credentials_scope

    def raised(inner):
        try:
            try:
                raise inner
            except Exception:
                raise JobError("login refused", retryable=False) from None
        except Exception as error:
            return error

    refused = raised(DracoonAuthError("POST", "/oauth/token", 401))
    assert failure_scope(refused, "a.example") == "credentials:a.example"
    assert failure_scope(raised(KeyPairError("wrong")), "a.example") == "credentials:a.example"
    b = CircuitBreakers(2, 1.0, credentials_interval=300.0, clock=Clock())
    scope = credentials_scope("a.example")
    b.record_failure(scope, "refused")
    assert b.record_failure(scope, "refused")
    assert b.seconds_to_next_probe() == 300.0  # a login with bad credentials can lock accounts
