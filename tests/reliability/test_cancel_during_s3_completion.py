"""A job cancelled while DRACOON assembles its S3 upload: the file appears after the job
failed, and the redelivery still leaves one file.

S3 direct uploads end with ``PUT .../s3``; DRACOON then assembles the parts ("finishing")
and the client polls until "done". A cancel during that wait (shutdown: the worker's cancel
event; 710fa29 made it end the pause between polls at once, before that it was noticed
after the pause) fails the upload with ``UploadCancelledError`` and cancels the channel --
which DRACOON no longer has open (the emulator answers 404, as for any closed channel), so
the assembly goes on and the file appears in the room after the job reported failure. The
message is released at once (shutdown), so the next delivery can start while that copy is
still being assembled: its listing does not see it and it uploads another. What keeps the
room at one file is jobs.dedup, which removes the second copy once both exist. This pins
that outcome, so a change to the cancel path or to dedup that leaves two copies fails here.

The emulator takes ``s3_finishing_seconds`` to assemble (4 s here; a large recording on a
real DRACOON takes longer). Real HTTP: emulator, moto, runners in this process.
"""

from __future__ import annotations

import threading
import time

import pytest

from recording_storage.jobs.runner import JobError
from tests.reliability.conftest import make_world
from tests.support.emulator_fixtures import default_seed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

FINISHING_SECONDS = 4.0


@pytest.fixture
def slow_finish_world(
    emulator_factory, test_key_pairs, moto_server, s3_bucket, tmp_path, proxy, aws_env
):
    seed = default_seed(test_key_pairs, s3_direct=True)
    seed["s3_finishing_seconds"] = FINISHING_SECONDS
    world = make_world(emulator_factory(seed), moto_server, s3_bucket, tmp_path, proxy)
    yield world
    for runner in world.runners:
        runner.close()


def _statuses(world) -> list[str]:
    return [upload["status"] for upload in world.admin("GET", "/emulator/uploads")]


def test_a_redelivery_after_a_cancel_during_s3_assembly_leaves_one_file(slow_finish_world):
    world = slow_finish_world
    key = "rec/assembling.mp4"
    data = b"recording " * 5000
    world.bucket.put(key, data)
    runner = world.runner()
    cancel = threading.Event()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = runner.run(world.message(key), job_id="a-1", cancel=cancel)
        except BaseException as exc:
            outcome["error"] = exc

    job = threading.Thread(target=run, name="assembling-job")
    job.start()
    deadline = time.monotonic() + 60
    while "finishing" not in _statuses(world):
        assert time.monotonic() < deadline, "the S3 completion never started"
        assert job.is_alive(), outcome
        time.sleep(0.05)
    cancel.set()  # shutdown while DRACOON assembles
    job.join(60)
    assert not job.is_alive()
    error = outcome.get("error")
    assert isinstance(error, JobError) and error.retryable and "cancelled" in str(error)
    assert world.files() == []  # as far as anyone can see, the job stored nothing

    # The message is released at once: another worker runs the second delivery now.
    runner.run(world.message(key), job_id="a-2", delivery=2)
    deadline = time.monotonic() + FINISHING_SECONDS + 30
    while "finishing" in _statuses(world) and time.monotonic() < deadline:
        time.sleep(0.1)
    uploads = world.admin("GET", "/emulator/uploads")
    # Both deliveries' uploads were completed by DRACOON: the cancelled one after its job
    # had reported failure.
    assert [u["status"] for u in uploads] == ["done", "done"], uploads
    world.assert_one_correct_file(data)
    assert not world.bucket.exists(key)
