"""An upload channel that DRACOON drops while the job still uses it (it expired, or an
operator cancelled it): the next chunk gets 404 -20501. That is no reason to dead-letter the
job -- a new channel later works -- so the job fails as retryable, keeps the S3 object and
leaves no file; the redelivery stores one correct file.

Before the fix, 404 counted as permanent like a missing room: the message went to the
dead-letter queue although nothing was wrong with its configuration.
"""

from __future__ import annotations

import os

import pytest

from recording_storage.jobs.runner import JobError
from tests.jobs.conftest import CHUNK
from tests.support.fault_proxy import ProxyRule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

KEY = "rec/expiring.mp4"
CHUNK_POST = r"^/api/v4/uploads/[^/?]+$"


def _expire_open_channels(world):
    state = world.emulator.app.state

    def expire() -> None:
        with state.lock:
            for upload in state.uploads.values():
                if upload.status == "transfer":
                    upload.status = "cancelled"

    return expire


def test_a_channel_that_expires_once_is_replaced_within_the_job(classic):
    world = classic
    data = os.urandom(3 * CHUNK + 11)
    world.bucket.put(KEY, data)
    # Chunk 2 finds its channel gone: the proxy expires it just before forwarding.
    world.tamper.add(ProxyRule("delay", method="POST", path=CHUNK_POST, skip=1, count=1,
                               before=_expire_open_channels(world)))  # fmt: skip

    result = world.runner().run(world.message(KEY), job_id="expiring-once")

    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists(KEY)


def test_a_channel_that_keeps_expiring_fails_retryably_and_the_redelivery_completes(classic):
    world = classic
    data = os.urandom(3 * CHUNK + 11)
    world.bucket.put(KEY, data)
    rule = world.tamper.add(ProxyRule("delay", method="POST", path=CHUNK_POST, skip=1,
                                      before=_expire_open_channels(world)))[0]  # fmt: skip
    runner = world.runner()

    with pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="expiring")

    assert failure.value.retryable, str(failure.value)
    assert "-20501" in str(failure.value)
    assert world.files() == [] and world.open_uploads() == []
    assert world.bucket.exists(KEY)

    rule.count = rule.fired  # channels live long enough again
    result = runner.run(world.message(KEY), job_id="expiring-again")
    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists(KEY)
