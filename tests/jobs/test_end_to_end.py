"""End to end over real protocols: the ``recording-storage`` CLI as a subprocess, the moto S3
server, the DRACOON emulator and a file configurator. Files are checked by downloading and
decrypting them as another room member."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from recording_storage.jobs.expiration import parse_expiration
from tests.jobs.conftest import CHUNK, readme_message

pytestmark = pytest.mark.slow


def test_readme_sample_message(service, readme_bucket):
    data = os.urandom(1000)
    readme_bucket.put("sandbox/test-video.mp4", data)
    started = datetime.now(UTC)

    status, out, err = service.transfer(readme_message())

    assert status == 0, err
    assert out["status"] == "success" and out["s3_deleted"] is True
    [file] = service.files_in("/Recordings/some room/sub-room")  # rooms were created
    assert file["name"] == "test-video.mp4"
    assert file["isEncrypted"] is True
    assert file["notes"].startswith("recording-storage:v1 source=")
    expected = parse_expiration("4 years 3 months 2 weeks 1 day").expire_at(started)
    expire_at = datetime.fromisoformat(file["expireAt"].replace("Z", "+00:00"))
    assert abs(expire_at - expected) < timedelta(minutes=5)
    assert not readme_bucket.exists("sandbox/test-video.mp4")
    assert service.download_as("alice", file["id"]) == data
    assert '"code": 15001' in err  # the CLI start is logged with its code
    for secret in ("service-pw", "service-crypto-pw"):
        assert secret not in err and secret not in json.dumps(out)


def test_multi_chunk_into_encrypted_room_two_targets(service, s3_bucket):
    data = os.urandom(5 * CHUNK + 123)
    s3_bucket.put("rec/2017/meeting-22980.mp4", data)
    message = readme_message(bucket=s3_bucket.name, keys=["rec/2017/meeting-22980.mp4"], targets=[
        {"path": "$meetingType/$year", "expiration": "1 month"},
        {"path": "archive/${instance}", "expiration": ""},
    ])  # fmt: skip

    status, out, err = service.transfer(message)

    assert status == 0, err
    assert out["bytes_transferred"] == 2 * len(data)
    [first] = service.files_in("/Recordings/live now/2017")
    [second] = service.files_in("/Recordings/archive/24slocal.new.com")
    assert first["expireAt"] and second["expireAt"] is None
    assert first["size"] == second["size"] == len(data)
    assert service.download_as("alice", first["id"]) == data  # a second room member decrypts
    assert service.download_as("bob", second["id"]) == data
    assert not s3_bucket.exists("rec/2017/meeting-22980.mp4")


def test_instance_targets_when_message_has_none(service, s3_bucket):
    s3_bucket.put("k/a.mp4", b"A" * 10)
    s3_bucket.put("k/b.mp4", b"B" * 20)
    message = readme_message(bucket=s3_bucket.name, keys=["k/a.mp4", "k/b.mp4"], targets=None)
    status, _out, err = service.transfer(message)
    assert status == 0, err
    names = sorted(f["name"] for f in service.files_in("/Recordings/all/live now"))
    assert names == ["a.mp4", "b.mp4"]


def test_failing_target_keeps_s3_object_and_rerun_completes_once(service, s3_bucket):
    data = os.urandom(2 * CHUNK)
    s3_bucket.put("x/video.mp4", data)
    message = readme_message(bucket=s3_bucket.name, keys=["x/video.mp4"], targets=[
        {"path": "ok-room"}, {"path": "failing-room"}])  # fmt: skip
    # The first upload channel is refused once (403: not retried); the other target works.
    service.admin(
        "POST",
        "/emulator/faults",
        {
            "rules": [
                {"method": "POST", "path": r"/nodes/files/uploads$", "status": 403, "count": 1}
            ]
        },
    )
    status, out, err = service.transfer(message)
    service.admin("DELETE", "/emulator/faults")

    assert status == 4, err
    assert out["status"] == "failed"
    assert s3_bucket.exists("x/video.mp4")
    counts = [len(service.files_in(f"/Recordings/{r}")) for r in ("ok-room", "failing-room")]
    assert sorted(counts) == [0, 1]

    status, out, err = service.transfer(message)
    assert status == 0, err
    assert sorted(f["reused"] for f in out["files"]) == [False, True]
    assert len(service.files_in("/Recordings/ok-room")) == 1
    assert len(service.files_in("/Recordings/failing-room")) == 1
    assert not s3_bucket.exists("x/video.mp4")


def test_failed_job_exit_status_and_s3_kept(service, s3_bucket):
    s3_bucket.put("y/video.mp4", b"v" * 100)
    message = readme_message(bucket=s3_bucket.name, keys=["y/video.mp4"],
                             targets=[{"path": "r1"}, {"path": "r2"}])  # fmt: skip
    service.admin(
        "POST",
        "/emulator/faults",
        {"rules": [{"method": "POST", "path": r"/nodes/files/uploads$", "status": 403}]},
    )
    status, out, err = service.transfer(message)
    assert status == 4, err
    assert out["status"] == "failed" and out["retryable"] is False
    assert "S3 objects kept" in out["error"]
    assert s3_bucket.exists("y/video.mp4")
    assert '"code": 15009' in err


def test_same_job_twice_leaves_one_file_per_target(service, s3_bucket):
    data = os.urandom(CHUNK + 1)
    s3_bucket.put("z/v.mp4", data)
    message = readme_message(bucket=s3_bucket.name, keys=["z/v.mp4"],
                             targets=[{"path": "t1"}, {"path": "t2/$meetingId"}])  # fmt: skip
    keep = {"RS_S3_REMOVEAFTERTRANSFERRING": "false"}

    assert service.transfer(message, env=keep)[0] == 0
    status, out, _ = service.transfer(message, env=keep)
    assert status == 0 and all(f["reused"] for f in out["files"]) and len(out["files"]) == 2
    assert s3_bucket.exists("z/v.mp4")
    status, out, _ = service.transfer(message)  # now deletes
    assert status == 0 and out["s3_deleted"] and not s3_bucket.exists("z/v.mp4")
    # Redelivery after the S3 objects are gone: recognised as done, not an error.
    status, out, err = service.transfer(message)
    assert status == 0, err
    assert len(out["files"]) == 2
    assert len(service.files_in("/Recordings/t1")) == 1
    assert len(service.files_in("/Recordings/t2/22980")) == 1


def test_malformed_messages_are_refused(service, s3_bucket):
    s3_bucket.put("m/v.mp4", b"1")
    status, out, err = service.transfer("this is not json")
    assert status == 3 and out["status"] == "invalid_message" and out["field"] == "(body)"
    assert '"code": 15007' in err  # logged with its code and reason
    bad = readme_message(bucket=s3_bucket.name, keys=["m/v.mp4"])
    bad["storage"]["extra"]["dracoon"]["targets"][0]["expiration"] = "1 eon"
    status, out, _err = service.transfer(bad)
    assert status == 3
    assert out["field"] == "storage.extra.dracoon.targets[0].expiration"
    escape = readme_message(bucket=s3_bucket.name, keys=["m/v.mp4"],
                            targets=[{"path": "../outside"}])  # fmt: skip
    assert service.transfer(escape)[0] == 3
    assert s3_bucket.exists("m/v.mp4")
    assert [n["path"] for n in service.nodes() if n["type"] == "file"] == []


def test_missing_source_object_is_a_permanent_failure(service, s3_bucket):
    status, out, _err = service.transfer(readme_message(bucket=s3_bucket.name, keys=["no/such"]))
    assert status == 4 and "does not exist" in out["error"]


def test_sharer_gives_keys_to_a_user_added_after_the_upload(service, s3_bucket, test_key_pairs):
    data = os.urandom(3000)
    s3_bucket.put("s/v.mp4", data)
    status, _, err = service.transfer(readme_message(bucket=s3_bucket.name, keys=["s/v.mp4"],
                                                     targets=[{"path": "shared"}]))  # fmt: skip
    assert status == 0, err
    [file] = service.files_in("/Recordings/shared")
    container, _ = test_key_pairs["bob"]  # carol reuses bob's key pair: no new RSA keygen
    service.admin("POST", "/emulator/users",
                  {"login": "carol", "password": "carol-pw", "key_pair": container})  # fmt: skip
    room = service.node("/Recordings")
    service.admin("PUT", f"/emulator/rooms/{room['id']}/members",
                  {"login": "carol", "permissions": ["read"]})  # fmt: skip
    carol = service.client_as_with("carol", "carol-pw", "bob-crypto-pw")
    with pytest.raises(Exception, match="key"):
        carol.download(file["id"], _Sink())

    status, report, err = service.cli("share")

    assert status == 0, err
    assert report["keys_set"] >= 1 and report["instances"] == 1
    assert '"code": 15017' in err
    sink = _Sink()
    carol.download(file["id"], sink)
    assert sink.data == data
    carol.close()


class _Sink:
    def __init__(self):
        self.data = b""

    def write(self, chunk):
        self.data += bytes(chunk)
        return len(chunk)


def test_config_check_redacts_secrets(service):
    secret = {"RS_DRACOON_PASSWORD": "hunter2", "RS_DRACOON_TEST_ENCRYPTIONPASSWORD": "hunter3"}
    status, out, err = service.cli("config", "check", "--json", env=secret)
    assert status == 0, err
    assert out["values"]["dracoon.password"] == "********"
    assert out["values"]["s3.chunkSize"] == str(CHUNK)
    assert "hunter" not in json.dumps(out) + err
    status, out, err = service.cli("config", "check", env={"RS_S3_CHUNKSIZE": "lots"})
    assert status == 78 and "s3.chunkSize" in err
