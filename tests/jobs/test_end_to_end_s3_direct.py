"""End to end with a DRACOON that stores uploads in S3 (``useS3Storage``): the client then
sends presigned S3 parts instead of classic chunks. The CLI as a subprocess, moto S3, the
emulator in S3-direct mode; files are checked by downloading and decrypting them as another
room member."""

from __future__ import annotations

import os

import pytest

from tests.jobs.conftest import CHUNK, readme_message
from tests.support.emulator_fixtures import default_seed

pytestmark = pytest.mark.slow


@pytest.fixture
def emulator(emulator_factory, test_key_pairs):
    """Overrides the default emulator of the ``service`` fixture: S3-direct uploads."""
    return emulator_factory(default_seed(test_key_pairs, s3_direct=True))


def test_s3_direct_upload_into_two_rooms(service, s3_bucket):
    # S3 parts are at least 5 MiB: 11 MiB + a few bytes make three parts per upload.
    data = os.urandom(11 * 1024 * 1024 + 7)
    s3_bucket.put("s3direct/meeting.mp4", data)
    message = readme_message(bucket=s3_bucket.name, keys=["s3direct/meeting.mp4"],
                             targets=[{"path": "direct/a"}, {"path": "direct/b"}])  # fmt: skip
    with service.client_as("alice") as client:
        assert client.capabilities.s3_direct_upload

    status, out, err = service.transfer(message, env={"RS_S3_CHUNKSIZE": str(CHUNK)})

    assert status == 0, err
    assert out["status"] == "success" and out["s3_deleted"] is True
    assert out["bytes_transferred"] == 2 * len(data)
    for room, reader in (("a", "alice"), ("b", "bob")):
        [file] = service.files_in(f"/Recordings/direct/{room}")
        assert file["isEncrypted"] is True and file["size"] == len(data)
        assert service.download_as(reader, file["id"]) == data
    assert not s3_bucket.exists("s3direct/meeting.mp4")
