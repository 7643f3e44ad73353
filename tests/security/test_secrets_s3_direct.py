"""No secret leaks in S3-direct mode: there the client sends each part to a presigned URL,
whose query string carries a signature and whose path carries the upload token. A transfer
whose part upload loses its connection once (so it is retried), and a transfer whose part
uploads keep failing (so the error is reported), run at DEBUG log level; neither the
signatures nor the upload, access and refresh tokens may appear in logs or error output."""

from __future__ import annotations

import json
import os
import secrets

import pytest
from dracoon_emulator.handlers import s3 as emulator_s3
from dracoon_emulator.services import sessions as emulator_sessions
from dracoon_emulator.services import uploads as emulator_uploads

from recording_storage.dracoon.crypto import UserKeyPair, UserKeyPairContainer
from tests.jobs.conftest import readme_message
from tests.security.test_secrets import assert_no_secret, issued_secrets
from tests.support.emulator_fixtures import default_seed, encryption_password, login_password

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PART_PUT = "^/emulator/s3/"  # where the emulator serves the presigned part URLs


@pytest.fixture
def emulator(emulator_factory, test_key_pairs):
    """Overrides the default emulator of the ``service`` fixture: S3-direct uploads."""
    return emulator_factory(default_seed(test_key_pairs, s3_direct=True))


class TokenRecorder:
    """Stands in for the ``secrets`` module of the emulator's modules that mint credentials
    (the emulator runs in this process) and remembers every value: presigned-URL signatures
    (``token_hex``), OAuth access and refresh tokens and upload tokens (``token_urlsafe``),
    including those the CLI revoked before it exited."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def token_hex(self, nbytes: int | None = None) -> str:
        value = secrets.token_hex(nbytes)
        self.issued.append(value)
        return value

    def token_urlsafe(self, nbytes: int | None = None) -> str:
        value = secrets.token_urlsafe(nbytes)
        self.issued.append(value)
        return value

    def __getattr__(self, name: str):
        return getattr(secrets, name)


def test_no_presigned_url_or_token_in_logs_or_errors(service, s3_bucket, test_key_pairs,
                                                     monkeypatch):  # fmt: skip
    signatures, tokens = TokenRecorder(), TokenRecorder()
    monkeypatch.setattr(emulator_s3, "secrets", signatures)
    monkeypatch.setattr(emulator_sessions, "secrets", tokens)
    monkeypatch.setattr(emulator_uploads, "secrets", tokens)
    env = {"RS_LOGGER_LEVEL": "DEBUG"}
    outputs: dict[str, str] = {}

    # Two parts (the client raises parts to 5 MiB); the first part PUT loses its connection.
    data = os.urandom(5 * 1024 * 1024 + 1000)
    s3_bucket.put("direct/video.mp4", data)
    service.admin("POST", "/emulator/faults",
                  {"rules": [{"method": "PUT", "path": PART_PUT, "drop_connection": True,
                              "count": 1}]})  # fmt: skip
    job = readme_message(bucket=s3_bucket.name, keys=["direct/video.mp4"],
                         targets=[{"path": "direct"}])  # fmt: skip
    status, out, err = service.transfer(job, env=env)
    outputs["transfer with a dropped part upload"] = err + json.dumps(out)
    assert status == 0, err
    [file] = service.files_in("/Recordings/direct")
    assert service.download_as("alice", file["id"]) == data

    # Every part PUT fails: the job fails and says which part of which file.
    service.admin("DELETE", "/emulator/faults")
    service.admin("POST", "/emulator/faults",
                  {"rules": [{"method": "PUT", "path": PART_PUT, "status": 500}]})  # fmt: skip
    s3_bucket.put("direct/other.mp4", os.urandom(100_000))
    job = readme_message(bucket=s3_bucket.name, keys=["direct/other.mp4"],
                         targets=[{"path": "direct2"}])  # fmt: skip
    status, out, err = service.transfer(job, env=env)
    outputs["failing part uploads"] = err + json.dumps(out)
    assert status != 0 and out["status"] == "failed", err
    assert "S3 part 1" in outputs["failing part uploads"]
    assert s3_bucket.exists("direct/other.mp4")

    service_pair_json, service_pw = test_key_pairs["service"]
    key_pair = UserKeyPair.unlock(UserKeyPairContainer.from_json(service_pair_json), service_pw)
    service_user = service.emulator.app.state.user_by_login("service")
    issued = issued_secrets(service.emulator, key_pair, service_user.id)
    assert len(signatures.issued) >= 3  # two parts, a fresh URL after the drop, the failing part
    assert len(tokens.issued) >= 2 * 3  # per run: access token, refresh token, upload token
    assert issued["file keys"]
    # The dropped connection was retried, and said so without the URL.
    assert "retrying PUT <presigned S3 part URL>" in outputs["transfer with a dropped part upload"]
    assert_no_secret(
        outputs,
        [
            *signatures.issued,
            *tokens.issued,
            *issued["file keys"],
            login_password("service"),
            encryption_password("service"),
        ],
    )
