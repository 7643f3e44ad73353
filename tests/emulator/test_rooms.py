"""Room creation rules, encryption and room users."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import Api, token_for


def test_top_level_room_needs_room_manager_and_its_creator_is_admin_by_default(api):
    service, alice = api("service"), api("alice")
    service_id = service.get("/user/account").json()["id"]
    created = service.post("/nodes/rooms", {"name": "Meetings", "adminIds": [service_id]})
    assert created.status == 201
    room = created.json()
    assert "parentId" not in room and room["parentPath"] == "/"  # top level: no parentId
    assert room["permissions"]["manage"] is True and room["isEncrypted"] is False
    no_admin = service.post("/nodes/rooms", {"name": "Own"})  # the creator becomes admin
    assert no_admin.status == 201 and no_admin.json()["permissions"]["manage"] is True
    admins = service.get(f"/nodes/rooms/{no_admin.json()['id']}/users").json()["items"]
    assert [(a["userInfo"]["id"], a["permissions"]["manage"]) for a in admins] == [
        (service_id, True)
    ]
    recordings = service.node_id("/Recordings")
    orphan = service.post(
        "/nodes/rooms", {"name": "Orphan", "parentId": recordings, "inheritPermissions": False}
    )
    assert (orphan.status, orphan.error_code) == (400, -40006)  # a sub-room still needs one
    forbidden = alice.post("/nodes/rooms", {"name": "Mine", "adminIds": [service_id]})
    assert forbidden.status == 403
    unknown_admin = service.post("/nodes/rooms", {"name": "X", "adminIds": [424242]})
    assert (unknown_admin.status, unknown_admin.error_code) == (404, -70501)


def test_sub_room_needs_manage_inherits_encryption_and_conflicts(api):
    service, alice = api("service"), api("alice")
    recordings = service.node_id("/Recordings")
    sub = service.post("/nodes/rooms", {"name": "Team A", "parentId": recordings})
    assert sub.status == 201
    assert sub.json()["isEncrypted"] is True and sub.json()["inheritPermissions"] is True
    duplicate = service.post("/nodes/rooms", {"name": "team a", "parentId": recordings})
    assert (duplicate.status, duplicate.error_code) == (409, -41001)
    denied = alice.post("/nodes/rooms", {"name": "Team B", "parentId": recordings})
    assert denied.status == 403
    missing_parent = service.post("/nodes/rooms", {"name": "Z", "parentId": 987654})
    assert (missing_parent.status, missing_parent.error_code) == (404, -40000)


@pytest.mark.parametrize(
    "name",
    [
        "a/b",
        "a\\b",
        "what?",
        "star*",
        'quo"te',
        "pi|pe",
        "<x>",
        "co:lon",
        "-dash",
        "dot.",
        "CON",
        "lpt1.txt",
        "n" * 151,
        "",
        "   ",
    ],
)
def test_room_name_rules(api, name):
    service = api("service")
    reply = service.post("/nodes/rooms", {"name": name, "parentId": service.node_id("/Plain")})
    assert reply.status == 400
    assert reply.error_code in (-40755, -80000)


def test_encrypt_only_empty_top_level_rooms(api):
    service = api("service")
    service_id = service.get("/user/account").json()["id"]
    room = service.post("/nodes/rooms", {"name": "Later", "adminIds": [service_id]}).json()
    encrypted = service.put(f"/nodes/rooms/{room['id']}/encrypt", {"isEncrypted": True})
    assert encrypted.status == 200 and encrypted.json()["isEncrypted"] is True
    sub = service.post("/nodes/rooms", {"name": "Child", "parentId": room["id"]}).json()
    assert sub["isEncrypted"] is True
    again = service.put(f"/nodes/rooms/{room['id']}/encrypt", {"isEncrypted": False})
    assert (again.status, again.error_code) == (400, -40003)
    on_sub = service.put(f"/nodes/rooms/{sub['id']}/encrypt", {"isEncrypted": False})
    assert on_sub.status == 400
    alice = api("alice")
    plain = service.node_id("/Plain")
    assert alice.put(f"/nodes/rooms/{plain}/encrypt", {"isEncrypted": True}).status == 403


def test_room_users_with_public_keys_grant_and_revoke(api, emulator):
    service = api("service")
    recordings = service.node_id("/Recordings")
    users = service.get(f"/nodes/rooms/{recordings}/users").json()
    by_name = {u["userInfo"]["userName"]: u for u in users["items"]}
    assert set(by_name) == {"service", "alice", "bob"}
    assert by_name["alice"]["permissions"]["read"] is True
    assert by_name["alice"]["permissions"]["manage"] is False
    assert by_name["alice"]["publicKeyContainer"]["version"] == "RSA-4096"
    service.admin("POST", "/users", {"login": "dave", "password": "dave-pw"})
    dave = Api(emulator, token_for(emulator, "dave"))
    dave_id = dave.get("/user/account").json()["id"]
    grant = {"items": [{"id": dave_id, "permissions": {"read": True, "create": True}}]}
    assert service.put(f"/nodes/rooms/{recordings}/users", grant).status == 204
    assert dave.get(f"/nodes/{recordings}").json()["permissions"]["create"] is True
    sub = service.post("/nodes/rooms", {"name": "Sub", "parentId": recordings}).json()
    direct = service.get(f"/nodes/rooms/{sub['id']}/users").json()["items"]
    assert direct == []
    inherited = service.get(f"/nodes/rooms/{sub['id']}/users?filter=effectivePerm:eq:true").json()
    assert dave_id in {u["userInfo"]["id"] for u in inherited["items"]}
    dave_entry = next(u for u in inherited["items"] if u["userInfo"]["id"] == dave_id)
    assert "publicKeyContainer" not in dave_entry  # dave has no key pair
    assert service.delete(f"/nodes/rooms/{recordings}/users", {"ids": [dave_id]}).status == 204
    assert dave.get(f"/nodes/{recordings}").status == 404
    unknown = service.put(
        f"/nodes/rooms/{recordings}/users", {"items": [{"id": 5555, "permissions": {}}]}
    )
    assert (unknown.status, unknown.error_code) == (404, -70501)
    assert api("alice").put(f"/nodes/rooms/{recordings}/users", grant).status == 403
