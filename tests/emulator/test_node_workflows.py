"""The rules behind the workflows DRACOON's own clients run (recycle bin, versions, copy and
move, favourites, comments, metadata and account updates), over real HTTP with a plain
client: permissions, error codes, and that the recycle bin and comments survive a restart.
"""

from __future__ import annotations

from dracoon_emulator import EmulatorServer

from tests.emulator.conftest import Api, token_for
from tests.support.emulator_fixtures import default_seed


def _plain_file(api: Api, name: str, data: bytes, **channel) -> dict:
    reply = api.upload(api.node_id("/Plain"), name, data, **channel)
    assert reply.status == 201, reply.data
    return reply.json()


def test_recycle_bin_needs_its_permissions_and_keeps_content_until_removed(api):
    service, alice = api("service"), api("alice")  # alice may only read
    plain = service.node_id("/Plain")
    node = _plain_file(service, "gone.bin", b"bytes to restore")
    assert alice.delete(f"/nodes/{node['id']}").status == 403
    assert service.delete(f"/nodes/{node['id']}").status == 204
    assert service.get(f"/nodes/{node['id']}").status == 404
    assert alice.get(f"/nodes/{plain}/deleted_nodes").status == 403  # no readRecycleBin
    listed = service.get(f"/nodes/{plain}/deleted_nodes").json()
    assert [(i["name"], i["cntVersions"]) for i in listed["items"]] == [("gone.bin", 1)]
    restore = {"deletedNodeIds": [node["id"]]}
    assert alice.post("/nodes/deleted_nodes/actions/restore", restore).status == 403
    assert service.post("/nodes/deleted_nodes/actions/restore", restore).status == 204
    url = service.post(f"/nodes/files/{node['id']}/downloads").json()["downloadUrl"]
    assert service.get(url).data == b"bytes to restore"
    again = service.post("/nodes/deleted_nodes/actions/restore", restore)
    assert (again.status, again.error_code) == (404, -41000)
    not_a_room = service.get(f"/nodes/{node['id']}/deleted_nodes")
    assert (not_a_room.status, not_a_room.error_code) == (404, -40000)  # description 4.26.7


def test_restore_resolves_name_clashes_and_a_missing_parent(api):
    service = api("service")
    plain = service.node_id("/Plain")
    folder = service.post("/nodes/folders", {"parentId": plain, "name": "Box"}).json()
    old = service.upload(folder["id"], "a.txt", b"old").json()
    assert service.delete(f"/nodes/{old['id']}").status == 204
    service.upload(folder["id"], "a.txt", b"new")
    fail = service.post(
        "/nodes/deleted_nodes/actions/restore",
        {"deletedNodeIds": [old["id"]], "resolutionStrategy": "fail"},
    )
    assert (fail.status, fail.error_code) == (409, -41001)
    assert service.delete(f"/nodes/{folder['id']}").status == 204  # parent now in the bin
    orphan = service.post("/nodes/deleted_nodes/actions/restore", {"deletedNodeIds": [old["id"]]})
    assert (orphan.status, orphan.error_code) == (404, -41000)
    moved = service.post(
        "/nodes/deleted_nodes/actions/restore",
        {"deletedNodeIds": [old["id"]], "parentId": plain},
    )
    assert moved.status == 204
    restored = service.get(f"/nodes/{old['id']}").json()
    assert (restored["name"], restored["parentId"]) == ("a.txt", plain)


def test_deleting_a_room_is_final_and_takes_its_bin_along(api):
    service = api("service")
    room = service.post("/nodes/rooms", {"name": "Temp"}).json()
    node = service.upload(room["id"], "x.bin", b"x").json()
    assert service.delete(f"/nodes/{node['id']}").status == 204
    assert service.get(f"/nodes/deleted_nodes/{node['id']}").status == 200
    assert service.delete(f"/nodes/{room['id']}").status == 204
    assert service.get(f"/nodes/deleted_nodes/{node['id']}").status == 404
    assert service.get(f"/nodes/{room['id']}/deleted_nodes").status == 404


def test_copy_and_move_refuse_rooms_loops_and_missing_rights(api):
    service, alice = api("service"), api("alice")
    plain = service.node_id("/Plain")
    outer = service.post("/nodes/folders", {"parentId": plain, "name": "Outer"}).json()
    inner = service.post("/nodes/folders", {"parentId": outer["id"], "name": "Inner"}).json()
    loop = service.post(f"/nodes/{inner['id']}/move_to", {"items": [{"id": outer["id"]}]})
    assert (loop.status, loop.error_code) == (409, -41304)  # description 4.26.7
    room = service.post(f"/nodes/{outer['id']}/copy_to", {"items": [{"id": plain}]})
    assert (room.status, room.error_code) == (400, -41052)
    assert (
        alice.post(f"/nodes/{outer['id']}/copy_to", {"items": [{"id": inner["id"]}]}).status == 403
    )
    empty = service.post(f"/nodes/{outer['id']}/copy_to", {"items": []})
    assert (empty.status, empty.error_code) == (400, -80000)
    copied = service.post(f"/nodes/{plain}/copy_to", {"items": [{"id": outer["id"]}]})
    assert copied.status == 201
    names = {n["path"] for n in service.admin("GET", "/nodes").json()}
    assert {"/Plain/Outer (1)", "/Plain/Outer (1)/Inner"} <= names


def test_metadata_updates_check_names_and_permissions(api):
    service, alice = api("service"), api("alice")
    plain = service.node_id("/Plain")
    service.post("/nodes/folders", {"parentId": plain, "name": "Taken"})
    folder = service.post("/nodes/folders", {"parentId": plain, "name": "Mine"}).json()
    clash = service.put(f"/nodes/folders/{folder['id']}", {"name": "TAKEN"})
    assert (clash.status, clash.error_code) == (409, -41001)
    bad = service.put(f"/nodes/folders/{folder['id']}", {"name": "a/b"})
    assert (bad.status, bad.error_code) == (400, -40755)
    assert alice.put(f"/nodes/folders/{folder['id']}", {"name": "Hers"}).status == 403
    node = _plain_file(service, "f.bin", b"f")
    renamed = service.put(f"/nodes/files/{node['id']}", {"name": "g.bin", "classification": 3})
    assert renamed.status == 200 and renamed.json()["name"] == "g.bin"
    assert renamed.json()["classification"] == 3
    assert alice.put(f"/nodes/rooms/{plain}", {"name": "Mine now"}).status == 403
    wrong_kind = service.put(f"/nodes/rooms/{folder['id']}", {"name": "x"})
    assert (wrong_kind.status, wrong_kind.error_code) == (404, -40000)


def test_comments_and_favourites_are_per_user_and_guarded(api):
    service, alice, bob = api("service"), api("alice"), api("bob")
    node = _plain_file(service, "c.bin", b"c")
    comment = alice.post(f"/nodes/{node['id']}/comments", {"text": "mine"}).json()
    assert bob.put(f"/nodes/comments/{comment['id']}", {"text": "not yours"}).status == 403
    assert bob.delete(f"/nodes/comments/{comment['id']}").status == 403
    changed = alice.put(f"/nodes/comments/{comment['id']}", {"text": "edited"}).json()
    assert (changed["text"], changed["isChanged"]) == ("edited", True)
    assert service.delete(f"/nodes/comments/{comment['id']}").status == 204  # room admin
    listed = service.get(f"/nodes/{node['id']}/comments").json()["items"]
    assert [(c["text"], c["isDeleted"]) for c in listed] == [("edited", True)]
    hidden = service.get(f"/nodes/{node['id']}/comments?hide_deleted=true").json()
    assert hidden["items"] == []
    empty = alice.post(f"/nodes/{node['id']}/comments", {"text": " "})
    assert (empty.status, empty.error_code) == (400, -80000)
    assert bob.post(f"/nodes/{node['id']}/favorite").json()["isFavorite"] is True
    assert service.get(f"/nodes/{node['id']}").json()["isFavorite"] is False
    assert bob.post("/nodes/424242/favorite").status == 404


def test_account_update_validates_and_refuses_a_taken_user_name(api):
    alice = api("alice")
    taken = alice.put("/user/account", {"userName": "bob"})
    assert (taken.status, taken.error_code) == (409, -70564)  # description 4.26.7
    too_long = alice.put("/user/account", {"firstName": "x" * 151})
    assert too_long.status == 400
    updated = alice.put("/user/account", {"email": "alice@example.invalid", "language": "fr"})
    assert updated.status == 200
    assert (updated.json()["email"], updated.json()["language"]) == (
        "alice@example.invalid",
        "fr",
    )


def test_recycle_bin_comments_and_favourites_survive_a_restart(tmp_path, test_key_pairs):
    seed = default_seed(test_key_pairs)
    with EmulatorServer(seed, state_dir=tmp_path) as first:
        client = Api(first, token_for(first, "service"))
        kept = _plain_file(client, "kept.bin", b"kept")
        binned = _plain_file(client, "binned.bin", b"binned")
        client.post(f"/nodes/{kept['id']}/comments", {"text": "note"})
        client.post(f"/nodes/{kept['id']}/favorite")
        assert client.delete(f"/nodes/{binned['id']}").status == 204
    with EmulatorServer(seed, state_dir=tmp_path) as second:
        client.server = second
        node = client.get(f"/nodes/{kept['id']}").json()
        assert (node["isFavorite"], node["cntComments"]) == (True, 1)
        restore = {"deletedNodeIds": [binned["id"]]}
        assert client.post("/nodes/deleted_nodes/actions/restore", restore).status == 204
        url = client.post(f"/nodes/files/{binned['id']}/downloads").json()["downloadUrl"]
        assert client.get(url).data == b"binned"
