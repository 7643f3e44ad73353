"""A ranged GET whose body trickles is bounded by s3.rangeDeadlineSeconds.

The fault proxy answers with the real status and headers, then sends the body one byte every
0.2 s: every socket read gets data well within botocore's read timeout, so only a total
deadline ends it. Final state checked: the job fails as retryable naming the deadline, no
file and no open upload channel in DRACOON, the S3 object unchanged; a transient trickle is
absorbed by retrying the rest of the range.
"""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.config import Config

from recording_storage.aws.s3 import RangedObjectReader, S3Error, head_object
from recording_storage.jobs.runner import JobError
from tests.jobs.conftest import CHUNK
from tests.support.fault_proxy import ProxyRule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

KEY = "rec/slow.mp4"
RANGED_GET = r"/rec/slow\.mp4$"
DEADLINE = {"RS_S3_RANGEDEADLINESECONDS": "1"}


def _trickle(count: int | None) -> ProxyRule:
    return ProxyRule("trickle", method="GET", path=RANGED_GET, count=count, interval=0.2)


def test_a_body_that_trickles_for_good_fails_the_job_as_retryable(world):
    data = os.urandom(2 * CHUNK + 9)
    world.bucket.put(KEY, data)
    world.proxy.add(_trickle(None))
    runner = world.runner(**DEADLINE)

    with pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="trickle")

    message = str(failure.value)
    assert failure.value.retryable, message
    assert (
        "s3.rangeDeadlineSeconds (1 s)" in message and f"s3://{world.bucket.name}/{KEY}" in message
    )
    assert "S3 objects kept" in message
    assert world.bucket.get(KEY) == data
    assert world.files() == [] and world.open_uploads() == []
    # S3 healthy again: the redelivery completes.
    world.proxy.clear()
    runner.run(world.message(KEY), job_id="trickle-again")
    world.assert_one_correct_file(data)
    assert not world.bucket.exists(KEY)


def test_one_trickling_answer_is_retried_and_the_file_is_complete(world):
    data = os.urandom(3 * CHUNK + 1)
    world.bucket.put(KEY, data)
    rule = world.proxy.add(_trickle(1))[0]

    result, errors = world.run(world.runner(**DEADLINE), world.message(KEY))

    assert rule.fired == 1 and errors == []
    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists(KEY)


def test_a_whole_object_read_has_the_same_deadline(world, moto_server):
    """A caller that reads the whole range in one ``read`` is bounded too (this tested the
    reader's read-ahead path until that unused mode was removed; the bound stays)."""
    data = os.urandom(CHUNK)
    world.bucket.put(KEY, data)
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=world.proxy.url,
        config=Config(s3={"addressing_style": "path"}, read_timeout=30),
    )
    info = head_object(client, world.bucket.name, KEY)
    world.proxy.add(_trickle(None))
    reader = RangedObjectReader(client, info, CHUNK, attempts=2, retry_delay=0, deadline=0.5)

    with pytest.raises(S3Error, match=r"rangeDeadlineSeconds \(0.5 s\)") as failure:
        reader.read()
    reader.close()

    assert failure.value.retryable and "failed after 2 attempts" in str(failure.value)
    assert world.bucket.get(KEY) == data


def test_a_head_object_answer_that_never_completes_fails_retryably_in_time(world):
    """botocore's read timeout (60 s here) would wait much longer than the 1 s deadline:
    the job gives up at the deadline, keeps the object and uploads nothing."""
    data = os.urandom(CHUNK)
    world.bucket.put(KEY, data)
    rule = world.proxy.add(ProxyRule("delay", method="HEAD", path=RANGED_GET, delay=8.0))[0]
    runner = world.runner(**DEADLINE)

    with pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="slow-head")

    message = str(failure.value)
    assert failure.value.retryable, message
    assert "HeadObject" in message and "s3.rangeDeadlineSeconds (1 s)" in message
    assert world.files() == [] and world.open_uploads() == []
    rule.count = rule.fired
    runner.run(world.message(KEY), job_id="slow-head-again")
    world.assert_one_correct_file(data)
    assert not world.bucket.exists(KEY)


def test_a_delete_without_a_timely_answer_fails_retryably_and_the_redelivery_settles(world):
    """The files are in DRACOON; the DELETE's answer does not come within the deadline. The
    job fails as retryable (it cannot say whether S3 deleted); the redelivery finds the
    files by their marker and settles without a second copy."""
    data = os.urandom(CHUNK + 3)
    world.bucket.put(KEY, data)
    rule = world.proxy.add(ProxyRule("delay", method="DELETE", path=RANGED_GET, delay=8.0))[0]
    runner = world.runner(**DEADLINE)

    with pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="slow-delete")

    assert failure.value.retryable and "DeleteObject" in str(failure.value)
    world.assert_one_correct_file(data)
    rule.count = rule.fired
    runner.run(world.message(KEY), job_id="slow-delete-again")
    world.assert_one_correct_file(data)
    assert not world.bucket.exists(KEY)
