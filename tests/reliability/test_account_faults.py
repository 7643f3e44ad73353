"""Configuration and account faults: the configurator down, a wrong DRACOON password or
encryption password, a parent room that is missing or not manageable, a full quota. Each
fails the job with a clear error and its log code, classified for retry or dead-letter; the
S3 object is untouched and DRACOON holds no file and no open upload channel."""

from __future__ import annotations

import logging

import pytest

from recording_storage.jobs.runner import JobError
from tests.service.support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

KEY = "rec/account.mp4"


def _configurator_down(world):
    return {
        "RS_CONFIGURATOR_URL": f"http://127.0.0.1:{free_port()}/",
        "RS_CONFIGURATOR_RETRIES": "0",
    }


def _wrong_password(world):
    world.set_instance(**{"recordings.dracoon.password": "not-the-password"})


def _wrong_encryption_password(world):
    world.set_instance(**{"recordings.dracoon.encryption-password": "not-the-crypto-password"})


def _parent_room_missing(world):
    world.set_instance(**{"recordings.dracoon.parent-room-id": 987654})


def _parent_room_not_manageable(world):
    room = world.admin("POST", "/emulator/rooms", {"path": "Readonly", "encrypted": True,
                       "members": [{"login": "service", "permissions": ["read"]}]})  # fmt: skip
    world.set_instance(**{"recordings.dracoon.parent-room-id": room["id"]})


def _quota_exceeded(world):
    world.faults({"method": "POST", "path": "/nodes/files/uploads$", "status": 507,
                  "error_code": -90200})  # fmt: skip


@pytest.mark.parametrize(
    ("break_it", "retryable", "code", "says"),
    [
        pytest.param(_configurator_down, True, 15010, "configurator", id="configurator-down"),
        pytest.param(_wrong_password, False, 15009, "Bad credentials", id="wrong-dracoon-password"),
        pytest.param(
            _wrong_encryption_password,
            False,
            15009,
            "encryption password",
            id="wrong-encryption-password",
        ),
        pytest.param(_parent_room_missing, False, 15009, "987654", id="parent-room-missing"),
        pytest.param(_parent_room_not_manageable, False, 15009, "403", id="parent-not-manageable"),
        pytest.param(_quota_exceeded, True, 15009, "507", id="quota-exceeded"),
    ],
)
def test_account_faults_fail_clearly_and_touch_nothing(
    world, caplog, break_it, retryable, code, says
):
    world.bucket.put(KEY, b"r" * 5000)
    env = break_it(world) or {}
    runner = world.runner(**env)

    with caplog.at_level(logging.INFO), pytest.raises(JobError) as failure:
        runner.run(world.message(KEY), job_id="broken")

    message = str(failure.value)
    assert failure.value.retryable is retryable, message
    assert says.lower() in message.lower(), message
    assert any(getattr(r, "code", None) == code and r.levelno >= logging.ERROR
               for r in caplog.records), [(getattr(r, "code", None), r.message)
                                          for r in caplog.records]  # fmt: skip
    assert world.bucket.get(KEY) == b"r" * 5000
    assert [n for n in world.nodes() if n["type"] == "file"] == []
    assert world.open_uploads() == []
    for secret in ("service-pw", "service-crypto-pw"):
        assert secret not in message and secret not in caplog.text
