"""The S3 clean-up after a transfer deletes only the object that was transferred.

The fault proxy's ``before`` hook overwrites the recording just before the service's
DeleteObject reaches moto: the moment an overwrite during the transfer is most dangerous,
because every GET has already passed its ``If-Match``. The final state is checked: the newer
object still exists with its bytes, the DRACOON file is the older recording and decrypts for
a room reader, and the warning carries log code 15011.
"""

from __future__ import annotations

import logging
import os

import pytest

from recording_storage.logcodes import LogCode
from tests.jobs.conftest import CHUNK
from tests.support.fault_proxy import ProxyRule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

KEY = "rec/cond.mp4"
OBJECT_PATH = r"/rec/cond\.mp4(\?|$)"


def _overwrite_before_delete(world, data: bytes) -> ProxyRule:
    put = lambda: world.bucket.put(KEY, data)  # noqa: E731
    return ProxyRule("delay", method="DELETE", path=OBJECT_PATH, count=1, before=put)


def _enable_versioning(world) -> None:
    world.bucket.client.put_bucket_versioning(
        Bucket=world.bucket.name, VersioningConfiguration={"Status": "Enabled"}
    )


def _versions(world) -> tuple[list[dict], list[dict]]:
    listing = world.bucket.client.list_object_versions(Bucket=world.bucket.name, Prefix=KEY)
    return listing.get("Versions", []), listing.get("DeleteMarkers", [])


def _kept_warnings(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if getattr(r, "code", None) == LogCode.STORAGE_ERROR and r.levelno == logging.WARNING
    ]


def test_overwritten_before_delete_is_kept_and_the_job_succeeds(world, caplog):
    old, new = os.urandom(2 * CHUNK + 7), os.urandom(CHUNK + 3)
    old_etag = world.bucket.put(KEY, old)
    rule = world.proxy.add(_overwrite_before_delete(world, new))[0]

    with caplog.at_level(logging.INFO):
        result, errors = world.run(world.runner(), world.message(KEY))

    assert rule.fired == 1 and errors == []
    world.assert_one_correct_file(old)  # the transferred recording, decryptable by a reader
    assert world.bucket.get(KEY) == new  # the newer object was not deleted
    assert result.s3_deleted is False
    [warning] = _kept_warnings(caplog)
    text = warning.getMessage()
    assert KEY in text and old_etag in text and "kept" in text
    assert getattr(warning, "job", None) == "job-1"


def test_unchanged_object_is_deleted_with_if_match(world):
    data = os.urandom(CHUNK + 1)
    world.bucket.put(KEY, data)

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == [] and result.s3_deleted
    world.assert_one_correct_file(data)
    assert not world.bucket.exists(KEY)


def test_versioned_bucket_deletes_exactly_the_transferred_version(world, caplog):
    """Versioning on: the transferred version is removed for good (no delete marker), the
    version written during the transfer stays current and untouched."""
    _enable_versioning(world)
    old, new = os.urandom(CHUNK + 11), os.urandom(CHUNK + 5)
    world.bucket.put(KEY, old)
    world.proxy.add(_overwrite_before_delete(world, new))

    with caplog.at_level(logging.INFO):
        result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == [] and result.s3_deleted
    world.assert_one_correct_file(old)
    assert world.bucket.get(KEY) == new
    versions, markers = _versions(world)
    assert len(versions) == 1 and versions[0]["IsLatest"] and markers == []
    assert _kept_warnings(caplog) == []


def test_versioned_bucket_leaves_no_delete_marker(world):
    _enable_versioning(world)
    data = os.urandom(CHUNK)
    world.bucket.put(KEY, data)

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == [] and result.s3_deleted
    world.assert_one_correct_file(data)
    assert _versions(world) == ([], [])


def test_already_deleted_object_is_not_an_error(moto_server, s3_bucket):
    """A redelivery whose object an earlier run deleted: If-Match answers 404, which is fine."""
    from recording_storage.aws.s3 import delete_object, head_object

    s3_bucket.put(KEY, b"x")
    info = head_object(s3_bucket.client, s3_bucket.name, KEY)
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=KEY)

    delete_object(s3_bucket.client, info)  # no exception

    assert not s3_bucket.exists(KEY)


def test_stale_etag_raises_object_changed(moto_server, s3_bucket):
    from recording_storage.aws.s3 import S3ObjectChangedError, delete_object, head_object

    s3_bucket.put(KEY, b"old")
    info = head_object(s3_bucket.client, s3_bucket.name, KEY)
    s3_bucket.put(KEY, b"new")

    with pytest.raises(S3ObjectChangedError, match="changed since HeadObject") as failure:
        delete_object(s3_bucket.client, info)

    assert failure.value.retryable and s3_bucket.get(KEY) == b"new"


def test_an_overwrite_before_the_last_head_is_caught_without_a_delete(world, caplog):
    """For stores that ignore If-Match on DELETE: the HeadObject right before the delete
    sees the new ETag, so no DELETE is sent at all."""
    old, new = os.urandom(CHUNK + 2), os.urandom(CHUNK + 4)
    world.bucket.put(KEY, old)
    heads = []

    def overwrite_before_the_second_head():
        heads.append(1)
        if len(heads) == 2:  # the first HEAD starts the job, the second guards the delete
            world.bucket.put(KEY, new)

    world.proxy.add(ProxyRule("delay", method="HEAD", path=OBJECT_PATH,
                              before=overwrite_before_the_second_head))  # fmt: skip

    with caplog.at_level(logging.INFO):
        result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == [] and len(heads) == 2
    world.assert_one_correct_file(old)
    assert world.bucket.get(KEY) == new and result.s3_deleted is False
    assert world.proxy.count("DELETE", OBJECT_PATH) == 0
    [warning] = _kept_warnings(caplog)
    assert "kept" in warning.getMessage()
