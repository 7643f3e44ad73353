"""Classic uploads: chunks (multipart or raw, any Content-Range), completion paths,
resolution strategies, expiration, notes, cancel and encrypted-room rules."""

from __future__ import annotations

import datetime as dt
import http.client
from urllib.parse import urlsplit

import pytest

from tests.emulator.conftest import FAKE_FILE_KEY


def _channel(client, parent, name="rec.mp4", **extra):
    reply = client.post("/nodes/files/uploads", {"parentId": parent, "name": name, **extra})
    assert reply.status == 201, reply.data
    body = reply.json()
    assert body["uploadUrl"].endswith("/api/v4/uploads/" + body["token"])
    return body


def _content(client, node_id):
    url = client.post(f"/nodes/files/{node_id}/downloads").json()["downloadUrl"]
    return client.get(url, headers={"Authorization": ""}).data


def test_chunks_append_in_arrival_order_whatever_content_range_says(api):
    service = api("service")
    plain = service.node_id("/Plain")
    channel = _channel(service, plain)
    url = channel["uploadUrl"]
    first = service.request(
        "POST",
        url,
        fields={"file": ("upload", b"hello ", "application/octet-stream")},
        headers={"Content-Range": "bytes 0-0/11", "Authorization": ""},
    )
    assert first.status == 201 and first.json()["size"] == 6
    second = service.request(
        "POST", url, body=b"world", headers={"Content-Range": "bytes 6-11/*", "Authorization": ""}
    )
    assert second.status == 201
    done = service.put(url, {"resolutionStrategy": "autorename"}, headers={"Authorization": ""})
    assert done.status == 201
    node = done.json()
    assert node["size"] == 11 and node["type"] == "file" and node["parentId"] == plain
    assert _content(service, node["id"]) == b"hello world"


def test_raw_chunked_transfer_encoding_body(api, emulator):
    service = api("service")
    channel = _channel(service, service.node_id("/Plain"), "raw.bin")
    target = urlsplit(channel["uploadUrl"])
    connection = http.client.HTTPConnection(target.hostname, target.port)
    connection.request("POST", target.path, body=iter([b"abc", b"defg", b"h" * 70000]))
    response = connection.getresponse()
    assert response.status == 201, response.read()
    response.read()
    connection.close()
    node = service.put(channel["uploadUrl"], {}, headers={"Authorization": ""}).json()
    assert node["size"] == 70007


def test_deprecated_authenticated_paths(api):
    service = api("service")
    channel = _channel(service, service.node_id("/Plain"), "old.txt")
    path = f"/nodes/files/uploads/{channel['uploadId']}"
    assert service.post(path, body=b"12345").status == 201
    assert api("alice").put(path, {}).status == 404  # only the creator may use the id
    done = service.put(path, {})
    assert done.status == 201 and done.json()["size"] == 5
    status = service.get(path).json()
    assert status["status"] == "done" and status["node"]["id"] == done.json()["id"]


def test_completed_or_cancelled_channels_answer_20501(api):
    service = api("service")
    plain = service.node_id("/Plain")
    channel = _channel(service, plain)
    url = channel["uploadUrl"]
    assert service.put(url, {}).status == 201
    for method in ("POST", "PUT", "DELETE"):
        reply = service.request(method, url, body=b"{}")
        assert (reply.status, reply.error_code) == (404, -20501)
    cancelled = _channel(service, plain)
    assert service.request("POST", cancelled["uploadUrl"], body=b"abc").status == 201
    assert service.delete(cancelled["uploadUrl"]).status == 204
    reply = service.request("POST", cancelled["uploadUrl"], body=b"abc")
    assert (reply.status, reply.error_code) == (404, -20501)
    status = service.get(f"/nodes/files/uploads/{cancelled['uploadId']}")
    assert (status.status, status.error_code) == (404, -20501)


def test_resolution_strategies(api):
    service = api("service")
    plain = service.node_id("/Plain")
    first = service.upload(plain, "talk.mp4", b"one").json()
    renamed = service.upload(plain, "talk.mp4", b"two").json()
    assert renamed["name"] == "talk (1).mp4"
    channel = _channel(service, plain, "talk.mp4")
    conflict = service.put(channel["uploadUrl"], {"resolutionStrategy": "fail"})
    assert (conflict.status, conflict.error_code) == (409, -41001)
    overwritten = service.put(channel["uploadUrl"], {"resolutionStrategy": "overwrite"})
    assert overwritten.status == 201
    assert overwritten.json()["name"] == "talk.mp4"
    assert overwritten.json()["referenceId"] == first["referenceId"]
    assert service.get(f"/nodes/{first['id']}").status == 404
    bad = _channel(service, plain, "x.mp4")
    reply = service.put(bad["uploadUrl"], {"resolutionStrategy": "merge"})
    assert reply.status == 400
    reply = service.put(bad["uploadUrl"], {"keepShareLinks": True})
    assert (reply.status, reply.error_code) == (400, -80034)
    renamed_by_field = service.put(bad["uploadUrl"], {"fileName": "final.mp4"}).json()
    assert renamed_by_field["name"] == "final.mp4"


def test_expiration_notes_and_timestamps(api):
    service = api("service")
    plain = service.node_id("/Plain")
    expire = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).replace(microsecond=0)
    channel = _channel(
        service,
        plain,
        "kept.mp4",
        expiration={"enableExpiration": True, "expireAt": expire.isoformat()},
        notes="Recorded by the bot",
        timestampCreation="2024-03-01T10:00:00",
    )
    node = service.put(channel["uploadUrl"], {}).json()
    assert node["expireAt"] == expire.isoformat().replace("+00:00", ".000Z")
    assert node["notes"] == "Recorded by the bot"
    assert node["timestampCreation"] == "2024-03-01T10:00:00.000Z"
    listed = service.get(f"/nodes?parent_id={plain}").json()["items"][0]
    assert listed["expireAt"] == node["expireAt"]
    past = service.post(
        "/nodes/files/uploads",
        {
            "parentId": plain,
            "name": "late.mp4",
            "expiration": {"enableExpiration": True, "expireAt": "2001-01-01T00:00:00Z"},
        },
    )
    assert (past.status, past.error_code) == (400, -80006)
    long_notes = service.post(
        "/nodes/files/uploads", {"parentId": plain, "name": "n.mp4", "notes": "n" * 256}
    )
    assert (long_notes.status, long_notes.error_code) == (400, -80007)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "a.mp4"}, 400, -80000),
        ({"parentId": 123456, "name": "a.mp4"}, 404, -41000),
        ({"parentId": "PLAIN", "name": "bad|name"}, 400, -40755),
        ({"parentId": "PLAIN", "name": "a.mp4", "directS3Upload": True}, 412, -90030),
    ],
)
def test_channel_creation_errors(api, body, status, code):
    service = api("service")
    if body.get("parentId") == "PLAIN":
        body = body | {"parentId": service.node_id("/Plain")}
    reply = service.post("/nodes/files/uploads", body)
    assert (reply.status, reply.error_code) == (status, code)


def test_upload_needs_create_permission(api):
    reply = api("alice").post(
        "/nodes/files/uploads", {"parentId": api("service").node_id("/Plain"), "name": "a.mp4"}
    )
    assert reply.status == 403


def test_encrypted_room_needs_a_file_key(api):
    service = api("service")
    recordings = service.node_id("/Recordings")
    channel = _channel(service, recordings, "secret.mp4")
    service.request("POST", channel["uploadUrl"], body=b"ciphertext")
    reply = service.put(channel["uploadUrl"], {})
    assert (reply.status, reply.error_code) == (400, -40763)
    broken = service.put(channel["uploadUrl"], {"fileKey": {**FAKE_FILE_KEY, "iv": "short"}})
    assert broken.status == 400
    node = service.put(channel["uploadUrl"], {"fileKey": FAKE_FILE_KEY}).json()
    assert node["isEncrypted"] is True and node["size"] == 10
    key = service.get(f"/nodes/files/{node['id']}/user_file_key").json()
    assert key == FAKE_FILE_KEY
