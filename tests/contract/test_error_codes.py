"""Each DRACOON error the emulator emulates, over real HTTP: the status, the documented
``errorCode`` and DRACOON's error model (``code``, ``message``, ``debugInfo``, ``errorCode``).

The contract recorder checks every answer here against the description as well (the code
must be one the description lists for that operation and status, or an allow-listed one), so
these tests pin the codes docs/emulator.md's error table names.
"""

from __future__ import annotations

import time

import pytest

from tests.emulator.conftest import Api, token_for
from tests.support.emulator_fixtures import default_seed

QUOTA = 1000  # bytes: the room "Small" holds at most this much


@pytest.fixture
def server(emulator_factory, test_key_pairs):
    seed = default_seed(test_key_pairs, s3_direct=True)
    members = seed["rooms"][0]["members"]
    seed["rooms"].append({"path": "Small", "encrypted": False, "members": members, "quota": QUOTA})
    return emulator_factory(seed)


@pytest.fixture
def service(server) -> Api:
    return Api(server, token_for(server, "service"))


def error(reply, status: int, code: int) -> dict:
    """Assert DRACOON's error model with this status and errorCode; return the body."""
    body = reply.json()
    assert (reply.status, body.get("errorCode")) == (status, code), body
    assert body["code"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["debugInfo"], str) and body["debugInfo"]
    return body


def test_name_conflicts_are_409_41001(service):
    recordings = service.node_id("/Recordings")
    assert service.post("/nodes/folders", {"parentId": recordings, "name": "a"}).status == 201
    error(service.post("/nodes/folders", {"parentId": recordings, "name": "a"}), 409, -41001)
    room = {"parentId": recordings, "name": "sub", "inheritPermissions": True}
    assert service.post("/nodes/rooms", room).status == 201
    error(service.post("/nodes/rooms", room), 409, -41001)
    plain = service.node_id("/Plain")
    assert service.upload(plain, "x.mp4", b"one").status == 201
    created = service.post("/nodes/files/uploads", {"parentId": plain, "name": "x.mp4"}).json()
    url = created["uploadUrl"]
    assert service.request("POST", url, body=b"two", headers={"Authorization": ""}).status == 201
    fail = {"resolutionStrategy": "fail"}
    error(service.put(url, fail, headers={"Authorization": ""}), 409, -41001)


def test_room_admin_rules_are_40006_and_40017(service):
    recordings = service.node_id("/Recordings")
    orphan = {"parentId": recordings, "name": "orphan", "inheritPermissions": False}
    error(service.post("/nodes/rooms", orphan), 400, -40006)
    service_id = service.get("/user/account").json()["id"]
    top = {"name": "Top", "inheritPermissions": True, "adminIds": [service_id]}
    error(service.post("/nodes/rooms", top), 400, -40017)


def test_unknown_completed_and_cancelled_classic_channels_are_404_20501(service, server):
    plain = service.node_id("/Plain")
    error(service.post(f"{server.api_url}/uploads/no-such-token", {}), 404, -20501)
    error(service.get("/nodes/files/uploads/no-such-id"), 404, -20501)
    done = service.post("/nodes/files/uploads", {"parentId": plain, "name": "a.bin"}).json()
    no_auth = {"Authorization": ""}
    assert service.request("POST", done["uploadUrl"], body=b"a", headers=no_auth).status == 201
    assert service.put(done["uploadUrl"], {}, headers=no_auth).status == 201
    again = service.request("POST", done["uploadUrl"], body=b"b", headers=no_auth)
    error(again, 404, -20501)
    gone = service.post("/nodes/files/uploads", {"parentId": plain, "name": "b.bin"}).json()
    assert service.delete(f"/nodes/files/uploads/{gone['uploadId']}").status == 204
    error(service.put(f"/nodes/files/uploads/{gone['uploadId']}", {}), 404, -20501)


def _s3_upload(service, parent: int, name: str, data: bytes) -> str:
    channel = {"parentId": parent, "name": name, "directS3Upload": True}
    upload_id = service.post("/nodes/files/uploads", channel).json()["uploadId"]
    urls = {"firstPartNumber": 1, "lastPartNumber": 1, "size": len(data)}
    url = service.post(f"/nodes/files/uploads/{upload_id}/s3_urls", urls).json()["urls"][0]
    put = service.request("PUT", url["url"], body=data, headers={"Authorization": ""})
    etag = put.headers["ETag"].strip('"')
    done = {"parts": [{"partNumber": 1, "partEtag": etag}], "resolutionStrategy": "autorename"}
    assert service.put(f"/nodes/files/uploads/{upload_id}/s3", done).status == 202
    return upload_id


def _final_status(service, upload_id: str) -> dict:
    for _ in range(200):
        status = service.get(f"/nodes/files/uploads/{upload_id}").json()
        if status["status"] in ("done", "error"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"upload {upload_id} never finished")


def test_closed_s3_channels_are_400_20503_and_classic_ones_404_90034(service):
    plain = service.node_id("/Plain")
    upload_id = _s3_upload(service, plain, "s3.bin", b"s3 data")
    assert _final_status(service, upload_id)["status"] == "done"
    urls = {"firstPartNumber": 1, "lastPartNumber": 1, "size": 1}
    error(service.post(f"/nodes/files/uploads/{upload_id}/s3_urls", urls), 400, -20503)
    parts = {"parts": [{"partNumber": 1, "partEtag": "x"}]}
    error(service.put(f"/nodes/files/uploads/{upload_id}/s3", parts), 400, -20503)
    classic = service.post("/nodes/files/uploads", {"parentId": plain, "name": "c.bin"}).json()
    error(service.post(f"/nodes/files/uploads/{classic['uploadId']}/s3_urls", urls), 404, -90034)


def test_each_missing_resource_has_its_404_code(service, server):
    error(service.get("/nodes/987654"), 404, -41000)
    error(service.post("/nodes/rooms", {"parentId": 987654, "name": "x"}), 404, -40000)
    error(service.post("/nodes/files/987654/downloads"), 404, -40751)
    error(service.get("/nodes/files/987654/user_file_key"), 404, -40751)
    room = service.node_id("/Recordings")
    grant = {"items": [{"id": 987654, "permissions": {"read": True}}]}
    error(service.put(f"/nodes/rooms/{room}/users", grant), 404, -70501)
    error(service.get("/nodes/987654/deleted_nodes"), 404, -41000)
    error(service.put("/nodes/comments/987654", {"text": "x"}), 404, -41400)
    bob = Api(server, token_for(server, "bob"))
    assert bob.delete("/user/account/keypair").status == 204
    error(bob.get("/user/account/keypair"), 404, -70020)


def test_key_pair_codes_follow_the_description(service):
    error(service.post("/user/account/keypair", {"publicKeyContainer": {}}), 400, -80000)
    odd = {
        "privateKeyContainer": {"version": "B", "privateKey": "x"},
        "publicKeyContainer": {"version": "B", "publicKey": "y"},
    }
    error(service.post("/user/account/keypair", odd), 400, -70022)  # version: public key
    not_pem = {
        "privateKeyContainer": {"version": "RSA-4096", "privateKey": "not a key"},
        "publicKeyContainer": {"version": "RSA-4096", "publicKey": "not a key"},
    }
    error(service.post("/user/account/keypair", not_pem), 400, -70023)  # private key first


def test_room_quota_is_507_40200(service):
    small = service.node_id("/Small")
    over = {"parentId": small, "name": "big.bin", "size": QUOTA + 1}
    error(service.post("/nodes/files/uploads", over), 507, -40200)  # declared size
    assert service.upload(small, "fits.bin", b"f" * (QUOTA - 10)).status == 201
    channel = service.post("/nodes/files/uploads", {"parentId": small, "name": "late.bin"})
    url = channel.json()["uploadUrl"]
    no_auth = {"Authorization": ""}
    assert service.request("POST", url, body=b"l" * 20, headers=no_auth).status == 201
    error(service.put(url, {}, headers=no_auth), 507, -40200)  # at completion
    upload_id = _s3_upload(service, small, "s3-late.bin", b"s" * 20)
    status = _final_status(service, upload_id)  # S3: DRACOON reports it when it assembles
    assert status["status"] == "error"
    assert (status["errorDetails"]["code"], status["errorDetails"]["errorCode"]) == (507, -40200)
    names = [n["name"] for n in service.get(f"/nodes?parent_id={small}").json()["items"]]
    assert names == ["fits.bin"]
