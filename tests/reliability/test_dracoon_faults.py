"""DRACOON misbehaving during a job: throttling, 5xx, dropped connections, expired tokens,
a room-creation race, S3 direct completion ending in ``error``. Whatever happens, the job
completes (maybe after a retry) with exactly one correct, decryptable file per target, no
upload channel left open, and the S3 object deleted only at the end."""

from __future__ import annotations

import os

import pytest

from tests.jobs.conftest import CHUNK
from tests.reliability.conftest import in_thread

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CHUNKS = r"^/api/v4/uploads/[^/]+$"  # classic chunk uploads (POST) and completion (PUT)


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param(
            [{"method": "POST", "path": CHUNKS, "status": 429, "retry_after": 1, "count": 3}],
            id="429-burst-on-chunks",
        ),
        pytest.param(
            [
                {
                    "method": "GET",
                    "path": "^/api/v4/nodes$",
                    "status": 429,
                    "retry_after": 1,
                    "count": 2,
                }
            ],
            id="429-on-listing",
        ),
        pytest.param(
            [
                {"method": "GET", "path": "^/api/v4/nodes", "status": 500, "count": 1},
                {"method": "POST", "path": CHUNKS, "status": 502, "count": 1},
                {"method": "PUT", "path": CHUNKS, "status": 503, "count": 1},
            ],
            id="500-502-503",
        ),
        pytest.param(
            [{"method": "POST", "path": CHUNKS, "drop_connection": True, "count": 1}],
            id="dropped-chunk-upload",
        ),
        pytest.param(
            [
                {"method": "POST", "path": "/nodes/files/uploads$", "status": 503, "count": 2},
                {"method": "POST", "path": "/nodes/files/keys$", "status": 502, "count": 1},
            ],
            id="503-on-channel-and-keys",
        ),
        pytest.param(
            [{"method": "POST", "path": CHUNKS, "status": 500, "count": 1}],
            id="500-on-chunk-needs-retry",
        ),
    ],
)
def test_dracoon_faults_end_with_one_correct_file(world, rules):
    data = os.urandom(3 * CHUNK + 17)
    world.bucket.put("rec/video.mp4", data)
    world.faults(*rules)

    result, errors = world.run(world.runner(), world.message("rec/video.mp4"))

    world.faults()
    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists("rec/video.mp4")
    for error in errors:  # a failed attempt must say what failed, and be retryable
        assert error.retryable and "rec/video.mp4" in str(error), error


def test_token_expiry_in_the_middle_of_a_transfer(world):
    data = os.urandom(4 * CHUNK)
    world.bucket.put("rec/token.mp4", data)
    expired = []

    def expire_once(done: int, total: int) -> None:
        if done and not expired:
            expired.append(world.admin("POST", "/emulator/tokens/expire"))

    result, errors = world.run(world.runner(), world.message("rec/token.mp4"), progress=expire_once)

    assert expired and expired[0]["expired"] >= 1
    assert errors == []  # the client refreshed its token and carried on
    world.assert_one_correct_file(data)
    assert result.s3_deleted


def test_room_creation_race_409_uses_the_winners_room(world):
    """Another worker creates the room between our lookup and our create: DRACOON answers
    409 and the job continues in the existing room (no duplicate room)."""
    data = os.urandom(CHUNK)
    world.bucket.put("rec/race.mp4", data)
    world.faults(
        {"method": "POST", "path": "^/api/v4/nodes/rooms$", "latency_ms": 1500, "count": 1}
    )
    runner = world.runner()
    thread, outcome = in_thread(
        lambda: runner.run(world.message("rec/race.mp4", "race"), job_id="race")
    )
    _wait(lambda: world.admin("GET", "/emulator/faults")["rules"][0]["count"] == 0)
    world.admin("POST", "/emulator/rooms", {"path": "Recordings/race", "encrypted": True})
    thread.join(60)

    assert not isinstance(outcome[0], BaseException), outcome
    rooms = [n for n in world.nodes() if n["path"] == "/Recordings/race"]
    assert len(rooms) == 1
    world.assert_one_correct_file(data, path="race")


def test_s3_direct_completion_ending_in_error_is_retried(s3_world):
    """DRACOON accepts the completion, then fails to assemble the file (status ``error``,
    HTTP 500 in ``errorDetails``): the job starts the upload again on a new channel in the
    same run (jobs.execute UPLOAD_RESTARTS) and ends with one correct file."""
    world = s3_world
    data = os.urandom(200_000)
    world.bucket.put("rec/direct.mp4", data)
    world.faults({"method": "PUT", "path": "/s3$", "finish_error": True, "count": 1})

    result, errors = world.run(world.runner(), world.message("rec/direct.mp4"))

    assert errors == []
    world.assert_one_correct_file(data)
    assert result.s3_deleted
    statuses = sorted(u["status"] for u in world.admin("GET", "/emulator/uploads"))
    assert statuses == ["done", "error"]


def _wait(predicate, timeout: float = 20) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
