"""user_file_key, missingFileKeys (who needs a key, paging, shapes) and POST files/keys.

Keys are opaque to the emulator, so fake (well-formed) file keys are enough here; the real
crypto round trip is covered by the official SDK test."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import FAKE_FILE_KEY, Api, token_for


@pytest.fixture
def encrypted_file(api):
    service = api("service")
    node = service.upload(service.node_id("/Recordings"), "a.mp4", b"c" * 8, file_key=FAKE_FILE_KEY)
    assert node.status == 201
    return node.json()


def _user_id(client):
    return client.get("/user/account").json()["id"]


def test_missing_keys_lists_readers_with_key_pairs(api, encrypted_file, emulator):
    service, alice, bob = api("service"), api("alice"), api("bob")
    # carol is a reader without key pair: never listed
    service.admin("POST", "/users", {"login": "carol", "password": "carol-pw"})
    service.admin(
        "PUT",
        f"/rooms/{service.node_id('/Recordings')}/members",
        {"login": "carol", "permissions": ["read"]},
    )
    reply = service.get(f"/nodes/missingFileKeys?file_id={encrypted_file['id']}")
    assert reply.status == 200
    body = reply.json()
    expected = sorted([_user_id(alice), _user_id(bob)])
    assert [i["userId"] for i in body["items"]] == expected
    assert {i["fileId"] for i in body["items"]} == {encrypted_file["id"]}
    assert body["range"]["total"] == 2
    assert sorted(u["id"] for u in body["users"]) == expected
    assert body["users"][0]["publicKeyContainer"]["version"] == "RSA-4096"
    assert body["files"] == [{"id": encrypted_file["id"], "fileKeyContainer": FAKE_FILE_KEY}]

    no_key = alice.get(f"/nodes/files/{encrypted_file['id']}/user_file_key")
    assert (no_key.status, no_key.error_code) == (404, -40761)
    # alice has no key herself, so she cannot hand keys out
    assert alice.get("/nodes/missingFileKeys").json()["items"] == []

    set_keys = service.post(
        "/nodes/files/keys",
        {
            "items": [
                {"fileId": encrypted_file["id"], "userId": expected[0], "fileKey": FAKE_FILE_KEY}
            ]
        },
    )
    assert set_keys.status == 204
    assert alice.get(f"/nodes/files/{encrypted_file['id']}/user_file_key").status == 200
    after = service.get("/nodes/missingFileKeys").json()
    assert [i["userId"] for i in after["items"]] == expected[1:]


def test_inherited_readers_and_room_scope(api):
    service = api("service")
    recordings = service.node_id("/Recordings")
    sub = service.post("/nodes/rooms", {"name": "Sub", "parentId": recordings}).json()
    node = service.upload(sub["id"], "b.mp4", b"x", file_key=FAKE_FILE_KEY).json()
    by_room = service.get(f"/nodes/missingFileKeys?room_id={sub['id']}").json()
    assert {i["fileId"] for i in by_room["items"]} == {node["id"]}
    assert len(by_room["items"]) == 2  # alice + bob inherit read from Recordings
    only_alice = service.get(f"/nodes/missingFileKeys?user_id={_user_id(api('alice'))}").json()
    assert len(only_alice["items"]) == 1
    plain = service.get(f"/nodes/missingFileKeys?room_id={service.node_id('/Plain')}")
    assert (plain.status, plain.error_code) == (400, -40001)
    assert service.get("/nodes/missingFileKeys?room_id=99999").error_code == -40000
    assert service.get("/nodes/missingFileKeys?file_id=99999").error_code == -40751
    assert service.get("/nodes/missingFileKeys?user_id=99999").error_code == -70501


def test_missing_keys_are_paged_at_most_100(api, emulator):
    service = api("service")
    recordings = service.node_id("/Recordings")
    for index in range(26):  # 26 files x 2 readers = 52 pairs
        service.upload(recordings, f"f{index}.mp4", b"x", file_key=FAKE_FILE_KEY)
    page = service.get("/nodes/missingFileKeys?limit=500&offset=0").json()
    assert page["range"]["limit"] == 100 and page["range"]["total"] == 52
    second = service.get("/nodes/missingFileKeys?limit=50&offset=50").json()
    assert len(second["items"]) == 2
    assert len({f["id"] for f in second["files"]}) == len({i["fileId"] for i in second["items"]})


def test_key_rules(api, encrypted_file, emulator):
    service = api("service")
    file_id = encrypted_file["id"]
    bob_id = _user_id(api("bob"))
    item = {"fileId": file_id, "userId": bob_id, "fileKey": FAKE_FILE_KEY}
    alice = api("alice")
    denied = alice.post("/nodes/files/keys", {"items": [item]})
    assert (denied.status, denied.error_code) == (403, -40761)
    unknown_user = service.post("/nodes/files/keys", {"items": [item | {"userId": 4242}]})
    assert (unknown_user.status, unknown_user.error_code) == (404, -70501)
    unknown_file = service.post("/nodes/files/keys", {"items": [item | {"fileId": 4242}]})
    assert (unknown_file.status, unknown_file.error_code) == (404, -40751)
    assert service.post("/nodes/files/keys", {"items": []}).status == 400
    assert service.post("/nodes/files/keys", {"items": [item]}).status == 204
    again = {"items": [item | {"fileKey": {**FAKE_FILE_KEY, "iv": "AAAAAAAAAAAAAAAA"}}]}
    assert service.post("/nodes/files/keys", again).status == 204  # existing key is kept
    assert api("bob").get(f"/nodes/files/{file_id}/user_file_key").json() == FAKE_FILE_KEY
    service.admin("POST", "/users", {"login": "erin", "password": "erin-pw"})
    erin = Api(emulator, token_for(emulator, "erin"))
    assert erin.get("/nodes/missingFileKeys").error_code == -70020
