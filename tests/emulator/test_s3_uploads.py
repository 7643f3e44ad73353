"""S3 direct upload: presigned URLs served by the emulator, exact sizes, quoted ETags,
202 completion and polling through to done or error."""

from __future__ import annotations

import time

import pytest

from tests.emulator.conftest import FAKE_FILE_KEY, Api, token_for
from tests.support.emulator_fixtures import default_seed

MIB = 1024 * 1024


@pytest.fixture
def s3(emulator_factory, test_key_pairs):
    server = emulator_factory(default_seed(test_key_pairs, s3_direct=True))
    return Api(server, token_for(server, "service"))


def _channel(client, room="/Plain", name="rec.mp4"):
    body = {"parentId": client.node_id(room), "name": name, "directS3Upload": True}
    reply = client.post("/nodes/files/uploads", body)
    assert reply.status == 201, reply.data
    return reply.json()


def _urls(client, upload_id, first, last, size):
    return client.post(
        f"/nodes/files/uploads/{upload_id}/s3_urls",
        {"firstPartNumber": first, "lastPartNumber": last, "size": size},
    )


def _put_part(client, url, data):
    return client.request("PUT", url, body=data, headers={"Authorization": ""})


def _poll(client, upload_id):
    seen = []
    for _ in range(100):
        status = client.get(f"/nodes/files/uploads/{upload_id}").json()
        seen.append(status["status"])
        if status["status"] in ("done", "error"):
            return status, seen
        time.sleep(0.02)
    raise AssertionError(f"upload never finished: {seen}")


def test_multi_part_upload_round_trip(s3):
    channel = _channel(s3, "/Recordings")
    upload_id = channel["uploadId"]
    parts = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"]
    head = _urls(s3, upload_id, 1, 2, 5 * MIB)
    assert head.status == 201
    tail = _urls(s3, upload_id, 3, 3, 4).json()["urls"]
    urls = [u["url"] for u in head.json()["urls"]] + [tail[0]["url"]]
    assert [u["partNumber"] for u in head.json()["urls"]] == [1, 2]
    etags = []
    for url, data in zip(urls, parts, strict=True):
        reply = _put_part(s3, url, data)
        assert reply.status == 200
        etag = reply.headers["ETag"]
        assert etag.startswith('"') and etag.endswith('"')
        etags.append(etag.strip('"'))
    pending = s3.get(f"/nodes/files/uploads/{upload_id}").json()
    assert pending["status"] == "transfer"
    done = s3.put(
        f"/nodes/files/uploads/{upload_id}/s3",
        {
            "parts": [{"partNumber": i + 1, "partEtag": e} for i, e in enumerate(etags)],
            "fileKey": FAKE_FILE_KEY,
        },
    )
    assert done.status == 202 and done.data == b""
    status, seen = _poll(s3, upload_id)
    assert status["status"] == "done", status
    assert seen[0] == "finishing"
    node = status["node"]
    assert node["size"] == 10 * MIB + 4 and node["isEncrypted"] is True
    url = s3.post(f"/nodes/files/{node['id']}/downloads").json()["downloadUrl"]
    tail_bytes = s3.get(url, headers={"Range": f"bytes={10 * MIB - 2}-", "Authorization": ""})
    assert tail_bytes.status == 206 and tail_bytes.data == b"bbtail"
    closed = s3.post(f"/nodes/files/uploads/{upload_id}/s3_urls", {})
    assert (closed.status, closed.error_code) == (400, -20503)  # description 4.26.7


def test_part_rules(s3):
    channel = _channel(s3)
    upload_id = channel["uploadId"]
    small = _urls(s3, upload_id, 1, 2, 1000)
    assert small.status == 400  # parts before the last must be >= 5 MiB
    assert _urls(s3, upload_id, 0, 1, 10).status == 400
    url = _urls(s3, upload_id, 1, 1, 10).json()["urls"][0]["url"]
    wrong_size = _put_part(s3, url, b"x" * 11)
    assert wrong_size.status == 403 and b"SignatureDoesNotMatch" in wrong_size.data
    unsigned = _put_part(s3, url.replace("/1?", "/2?"), b"x" * 10)
    assert unsigned.status == 403
    etag = _put_part(s3, url, b"x" * 10).headers["ETag"]
    mismatch = s3.put(
        f"/nodes/files/uploads/{upload_id}/s3", {"parts": [{"partNumber": 1, "partEtag": "00"}]}
    )
    assert (mismatch.status, mismatch.error_code) == (400, -80045)
    never = s3.put(
        f"/nodes/files/uploads/{upload_id}/s3", {"parts": [{"partNumber": 2, "partEtag": etag}]}
    )
    assert (never.status, never.error_code) == (400, -80045)
    classic_chunk = s3.request("POST", channel["uploadUrl"], body=b"abc")
    assert classic_chunk.status == 400


def test_small_parts_fail_asynchronously_like_s3(s3):
    channel = _channel(s3)
    upload_id = channel["uploadId"]
    etags = []
    for number in (1, 2):
        url = _urls(s3, upload_id, number, number, 100).json()["urls"][0]["url"]
        etags.append(_put_part(s3, url, b"z" * 100).headers["ETag"])
    parts = [{"partNumber": n + 1, "partEtag": e} for n, e in enumerate(etags)]
    assert s3.put(f"/nodes/files/uploads/{upload_id}/s3", {"parts": parts}).status == 202
    status, _ = _poll(s3, upload_id)
    assert status["status"] == "error"
    assert status["errorDetails"]["code"] == 400


def test_name_conflict_with_fail_shows_up_while_polling(s3):
    s3.post("/nodes/folders", {"parentId": s3.node_id("/Plain"), "name": "rec.mp4"})
    channel = _channel(s3)
    url = _urls(s3, channel["uploadId"], 1, 1, 3).json()["urls"][0]["url"]
    etag = _put_part(s3, url, b"abc").headers["ETag"]
    body = {"parts": [{"partNumber": 1, "partEtag": etag}], "resolutionStrategy": "fail"}
    assert s3.put(f"/nodes/files/uploads/{channel['uploadId']}/s3", body).status == 202
    status, _ = _poll(s3, channel["uploadId"])
    assert status["status"] == "error"
    assert status["errorDetails"]["code"] == 409
    assert status["errorDetails"]["message"]


def test_empty_file_is_one_empty_part_and_encrypted_needs_key(s3):
    channel = _channel(s3, "/Recordings", "empty.mp4")
    url = _urls(s3, channel["uploadId"], 1, 1, 0).json()["urls"][0]["url"]
    etag = _put_part(s3, url, b"").headers["ETag"]
    parts = [{"partNumber": 1, "partEtag": etag}]
    no_key = s3.put(f"/nodes/files/uploads/{channel['uploadId']}/s3", {"parts": parts})
    assert (no_key.status, no_key.error_code) == (400, -40763)
    key = {**FAKE_FILE_KEY, "tag": None}
    ok = s3.put(f"/nodes/files/uploads/{channel['uploadId']}/s3", {"parts": parts, "fileKey": key})
    assert ok.status == 202
    status, _ = _poll(s3, channel["uploadId"])
    assert status["status"] == "done" and status["node"]["size"] == 0


def test_enforced_s3_refuses_classic_channels(emulator_factory, test_key_pairs):
    seed = default_seed(test_key_pairs, s3_direct=True) | {"s3_enforce_direct_upload": True}
    server = emulator_factory(seed)
    client = Api(server, token_for(server, "service"))
    reply = client.post("/nodes/files/uploads", {"parentId": client.node_id("/Plain"), "name": "a"})
    assert (reply.status, reply.error_code) == (400, -90033)


def test_injected_finish_error_is_accepted_then_polls_as_error(s3):
    s3.admin("POST", "/faults", {"rules": [{"path": "/s3$", "finish_error": True, "count": 1}]})
    channel = _channel(s3)
    url = _urls(s3, channel["uploadId"], 1, 1, 3).json()["urls"][0]["url"]
    etag = _put_part(s3, url, b"abc").headers["ETag"]
    body = {"parts": [{"partNumber": 1, "partEtag": etag}]}
    assert s3.put(f"/nodes/files/uploads/{channel['uploadId']}/s3", body).status == 202
    status, _ = _poll(s3, channel["uploadId"])
    assert status["status"] == "error" and status["errorDetails"]["code"] == 500
    assert [n for n in s3.admin("GET", "/nodes").json() if n["type"] == "file"] == []
    [listed] = s3.admin("GET", "/uploads").json()
    assert listed["status"] == "error" and listed["directS3"] is True
    # The rule fired once: the next upload finishes normally.
    again = _channel(s3)
    url = _urls(s3, again["uploadId"], 1, 1, 3).json()["urls"][0]["url"]
    etag = _put_part(s3, url, b"abc").headers["ETag"]
    body = {"parts": [{"partNumber": 1, "partEtag": etag}]}
    assert s3.put(f"/nodes/files/uploads/{again['uploadId']}/s3", body).status == 202
    assert _poll(s3, again["uploadId"])[0]["status"] == "done"
