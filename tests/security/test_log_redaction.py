"""urllib3 names request URLs in some of its warnings; the service's URLs carry credentials
(a presigned S3 part URL's signature, a DRACOON upload URL's token). The logging set-up
replaces them before a record is written. End to end: test_secrets_s3_direct.py."""

from __future__ import annotations

import logging

import pytest

from recording_storage.logs import setup_logging

UPLOAD_TOKEN = "tok-3Fq9x_ZkL2mWv8"
SIGNATURE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
def service_logging():
    """The service's logging set-up, with the root logger restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    setup_logging("DEBUG", "json")
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v4/uploads/{UPLOAD_TOKEN}",
        f"https://dracoon.example.com/api/v4/uploads/{UPLOAD_TOKEN}",
        f"/bucket/upload/{UPLOAD_TOKEN}/1?X-Amz-Signature={SIGNATURE}&X-Amz-Expires=60",
        f"https://s3.example.com/bucket/{UPLOAD_TOKEN}?X-Amz-Signature={SIGNATURE}",
    ],
)
def test_urls_in_urllib3_warnings_are_hidden(service_logging, capsys, url):
    logging.getLogger("urllib3.connectionpool").warning(
        "Retrying (%r) after connection broken by '%r': %s",
        "Retry(total=5)",
        ConnectionResetError(104, "Connection reset by peer"),
        url,
    )
    logging.getLogger("urllib3.connection").warning(
        "Failed to parse headers (url=%s): %s", url, "bad header"
    )
    err = capsys.readouterr().err
    assert err.count("<URL>") == 2, err
    assert "Retrying" in err and "Connection reset by peer" in err and "bad header" in err
    assert UPLOAD_TOKEN not in err and SIGNATURE not in err


def test_other_records_keep_their_paths(service_logging, capsys):
    logging.getLogger("recording_storage.jobs").info("read %s", "s3://bucket/a/b.mp4")
    assert "s3://bucket/a/b.mp4" in capsys.readouterr().err
