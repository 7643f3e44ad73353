"""S3 misbehaving during a job (through the fault proxy in front of moto): resets in the
middle of a ranged GET, 503 SlowDown, short bodies, the object deleted between HeadObject and
GetObject. A transient fault is absorbed by retries; a lasting one fails the job with a clear
error, cancels the DRACOON upload channel, and keeps the S3 object."""

from __future__ import annotations

import os

import pytest

from recording_storage.jobs.runner import JobError
from tests.jobs.conftest import CHUNK
from tests.support.fault_proxy import ProxyRule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

KEY = "rec/s3.mp4"
RANGED_GET = r"/rec/s3\.mp4$"


def _get(action: str, count: int | None, **kw) -> ProxyRule:
    return ProxyRule(action, method="GET", path=RANGED_GET, count=count, **kw)


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(_get("reset", 1), id="reset-mid-ranged-get"),
        pytest.param(_get("short", 2), id="short-body-twice"),
        pytest.param(_get("error", 2, status=503, code="SlowDown"), id="503-slowdown"),
        pytest.param(_get("error", 1, status=500, code="InternalError"), id="500"),
    ],
)
def test_transient_s3_faults_are_absorbed(world, rule):
    data = os.urandom(3 * CHUNK + 5)
    world.bucket.put(KEY, data)
    world.proxy.add(rule)

    result, errors = world.run(world.runner(), world.message(KEY))

    assert rule.fired == rule.count
    assert errors == []
    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists(KEY)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(_get("reset", None), "failed after 3 attempts", id="resets-persist"),
        pytest.param(_get("short", None), "IncompleteRead", id="short-bodies-persist"),
        pytest.param(
            _get("error", None, status=503, code="SlowDown"), "SlowDown", id="slowdown-persists"
        ),
    ],
)
def test_lasting_s3_faults_fail_cleanly_and_keep_the_object(world, rule, expected):
    data = os.urandom(3 * CHUNK)
    world.bucket.put(KEY, data)
    world.proxy.add(rule)
    runner = world.runner(s3_attempts=2)

    with pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="s3-fault")

    message = str(failure.value)
    assert failure.value.retryable, message
    assert expected in message and f"s3://{world.bucket.name}/{KEY}" in message
    assert "S3 objects kept" in message
    assert world.bucket.get(KEY) == data
    assert world.files() == []
    assert world.open_uploads() == []  # the upload channel was cancelled
    # The next delivery, with S3 healthy again, completes.
    world.proxy.clear()
    runner.run(world.message(KEY), job_id="s3-fault-again")
    world.assert_one_correct_file(data)
    assert not world.bucket.exists(KEY)


def test_object_deleted_between_head_and_get(world):
    world.bucket.put(KEY, os.urandom(2 * CHUNK))
    world.proxy.add(
        _get("delay", 1, before=lambda: world.bucket.client.delete_object(
            Bucket=world.bucket.name, Key=KEY))
    )  # fmt: skip
    runner = world.runner()

    with pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="vanished")

    assert failure.value.retryable is False  # a human must look: the recording is gone
    assert "does not exist" in str(failure.value) and KEY in str(failure.value)
    assert world.files() == [] and world.open_uploads() == []
    # A redelivery says clearly that nothing was transferred.
    with pytest.raises(JobError, match="was not transferred by an earlier delivery"):
        runner.run(world.message(KEY), job_id="vanished-again")
