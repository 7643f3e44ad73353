"""DRACOON's official Python SDK (dracoon 1.13.0, own venv), unchanged, running whole user
workflows against the emulator, in classic (proxy) and S3-direct upload modes.

Each test runs one SDK script (``WORKFLOWS[...]``) as a subprocess and then checks the final
state twice: from what the SDK itself saw (downloaded bytes, node fields, error types) and
from the emulator's admin view (which nodes exist where, with which size and content hash).
No faults here: the SDK sleeps 5-15 s before each retry.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.emulator.conftest import one_shot_request
from tests.support.emulator_fixtures import default_seed, login_password
from tests.support.official_sdk import run_sdk_script

pytestmark = [pytest.mark.official_sdk, pytest.mark.slow]

MODES = [False, True]
MODE_IDS = ["classic", "s3"]

PRELUDE = """
import asyncio, hashlib, os, tempfile
from dracoon import DRACOON, OAuth2ConnectionType
from dracoon.errors import (
    HTTPBadRequestError, HTTPConflictError, HTTPForbiddenError, HTTPNotFoundError,
)


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


async def login(name, unlock=True):
    user = ARGS["users"][name]
    client = DRACOON(base_url=ARGS["base_url"], raise_on_err=True)
    await client.connect(OAuth2ConnectionType.password_flow, user["login"], user["password"])
    if unlock:
        await client.get_keypair(user["secret"])
    return client


async def upload(client, path, parent_id, **kw):
    done = await client.upload(file_path=path, target_parent_id=parent_id, **kw)
    node = getattr(done, "node", None) or done  # S3 mode answers with the upload status
    return node


async def download(client, node_id):
    target = tempfile.mkdtemp()
    node = await client.nodes.get_node(node_id)
    await client.download(target_path=target, source_node_id=node_id)
    return digest(os.path.join(target, node.name))


async def expect(error, coroutine):
    try:
        await coroutine
    except error as exc:
        return type(exc).__name__
    raise AssertionError(f"expected {error.__name__}")


async def children(client, parent_id):
    listing = await client.nodes.get_nodes(parent_id=parent_id)
    return sorted([n.name, n.type.value] for n in listing.items)


def run(main):
    print(__import__("json").dumps(asyncio.run(main())))
"""

ROOMS_AND_FOLDERS = """
async def main():
    service = await login("service", unlock=False)
    nodes = service.nodes
    # A top-level room without adminIds: its creator becomes room admin.
    room = await nodes.create_room(nodes.make_room(name="Projects", notes="first"))
    sub = await nodes.create_room(nodes.make_room(name="Team", parent_id=room.id))
    renamed = await nodes.update_room(room.id, nodes.make_room_update(name="Projects 2026",
                                                                      notes="renamed"))
    folder = await nodes.create_folder(nodes.make_folder(name="Drafts", parent_id=room.id))
    nested = await nodes.create_folder(nodes.make_folder(name="Nested", parent_id=folder.id))
    changed = await nodes.update_folder(folder.id, nodes.make_folder_update(name="Final",
                                                                            notes="done"))
    clash = await expect(HTTPConflictError, nodes.create_folder(
        nodes.make_folder(name="final", parent_id=room.id)))
    users = await nodes.get_room_users(room.id)
    before_delete = await children(service, room.id)
    parents = await nodes.get_parents(nested.id)
    await nodes.delete_node(folder.id)
    after_delete = await children(service, room.id)
    await nodes.delete_nodes([sub.id])
    gone_sub = await expect(HTTPNotFoundError, nodes.get_node(sub.id))
    bin_names = [d.name for d in (await nodes.get_deleted_nodes(parent_id=room.id)).items]
    # Not emulated: DRACOON's 404 error form, which the SDK maps to HTTPNotFoundError.
    not_emulated = [
        await expect(HTTPNotFoundError, nodes.config_room(room.id, nodes.make_room_config(
            recycle_bin_period=7))),
        await expect(HTTPNotFoundError, service.shares.get_shares()),
    ]
    await nodes.delete_node(room.id)
    gone_room = await expect(HTTPNotFoundError, nodes.get_node(room.id))
    await service.logout()
    return {
        "room": {"id": room.id, "manage": room.permissions.manage,
                 "inherit": room.inheritPermissions},
        "sub_inherits": sub.inheritPermissions,
        "renamed": [renamed.name, renamed.notes],
        "folder": [changed.id == folder.id, changed.name, changed.notes, changed.parentId],
        "nested_parent": nested.parentId,
        "clash": clash,
        "admins": [[u.userInfo.userName, u.permissions.manage] for u in users.items],
        "before_delete": before_delete,
        "parents": [p.name for p in parents.items],
        "after_delete": after_delete,
        "bin": bin_names,
        "gone": [gone_sub, gone_room],
        "not_emulated": not_emulated,
    }


run(main)
"""

FILES_VERSIONS_RECYCLE_BIN = """
async def main():
    service = await login("service")
    nodes = service.nodes
    result = {}
    for room_name in ("Recordings", "Plain"):
        room_id = ARGS["rooms"][room_name]
        first, second, other = ARGS["files"][room_name]
        v1 = await upload(service, first, room_id, file_name="talk.bin")
        v2 = await upload(service, second, room_id, file_name="talk.bin",
                          resolution_strategy="overwrite")
        versions = await nodes.get_file_versions(v2.referenceId)
        deleted_versions = await nodes.get_node_versions(room_id, "talk.bin", "file")
        latest = await download(service, v2.id)
        # Delete the live version too: the bin now has two versions of talk.bin.
        await nodes.delete_node(v2.id)
        summary = (await nodes.get_deleted_nodes(parent_id=room_id)).items
        deleted = await nodes.get_deleted_node(v1.id)
        await nodes.restore_nodes(nodes.make_node_restore([v1.id]))
        restored = await nodes.get_node(v1.id)
        restored_bytes = await download(service, v1.id)
        # A third file: into the bin and removed from it for good by id.
        third = await upload(service, other, room_id, file_name="other.bin")
        await nodes.delete_node(third.id)
        await nodes.empty_recyclebin([third.id])
        purged = await expect(HTTPNotFoundError, nodes.get_deleted_node(third.id))
        await nodes.empty_node_recyclebin(room_id)
        left = (await nodes.get_deleted_nodes(parent_id=room_id)).range.total
        result[room_name] = {
            "v1": v1.id, "v2": v2.id, "encrypted": [v1.isEncrypted, v2.isEncrypted],
            "same_reference": v1.referenceId == v2.referenceId,
            "versions": sorted([v.id, bool(v.deleted)] for v in versions.items),
            "deleted_versions": [d.id for d in deleted_versions.items],
            "latest": latest,
            "summary": [[s.name, s.cntVersions, s.lastDeletedNodeId] for s in summary],
            "deleted": [deleted.name, deleted.parentId, deleted.size, deleted.deletedBy.id],
            "restored": [restored.name, restored.parentId],
            "restored_bytes": restored_bytes,
            "purged": purged,
            "bin_after_empty": left,
            "listing": await children(service, room_id),
        }
    await service.logout()
    return result


run(main)
"""

COPY_AND_MOVE = """
async def main():
    service = await login("service")
    alice = await login("alice")
    nodes = service.nodes
    result = {}
    for room_name in ("Recordings", "Plain"):
        room_id = ARGS["rooms"][room_name]
        archive = await nodes.create_folder(nodes.make_folder(name="Archive", parent_id=room_id))
        original = await upload(service, ARGS["files"][room_name], room_id, file_name="a.bin")
        copy_target = await nodes.copy_nodes(archive.id, nodes.make_node_transfer(
            items=[nodes.make_node_item(original.id)]))
        copied = (await nodes.get_nodes(parent_id=archive.id)).items[0]
        refused = await expect(HTTPConflictError, nodes.move_nodes(
            archive.id, nodes.make_node_transfer(items=[nodes.make_node_item(original.id)],
                                                 resolution_strategy="fail")))
        await nodes.move_nodes(archive.id, nodes.make_node_transfer(
            items=[nodes.make_node_item(original.id, name="moved.bin")]))
        moved = await nodes.get_node(original.id)
        parents = await nodes.get_parents(original.id)
        result[room_name] = {
            "archive": archive.id,
            "copy_target": copy_target.id,
            "copied": [copied.id != original.id, copied.name, copied.parentId, copied.size],
            "copied_bytes": await download(service, copied.id),
            "copied_bytes_alice": await download(alice, copied.id),
            "refused": refused,
            "moved": [moved.id, moved.name, moved.parentId],
            "moved_bytes": await download(service, original.id),
            "moved_bytes_alice": await download(alice, original.id),
            "parents": [p.id for p in parents.items],
            "room_listing": await children(service, room_id),
            "archive_listing": await children(service, archive.id),
        }
    # Encrypted content never crosses into a plain room (and the other way round).
    plain_archive = result["Plain"]["archive"]
    crossing = await expect(HTTPBadRequestError, nodes.copy_nodes(plain_archive,
        nodes.make_node_transfer(items=[nodes.make_node_item(result["Recordings"]["moved"][0])])))
    result["crossing"] = crossing
    await service.logout()
    await alice.logout()
    return result


run(main)
"""

FAVOURITES_AND_COMMENTS = """
async def main():
    service = await login("service")
    alice = await login("alice", unlock=False)
    nodes = service.nodes
    node = await upload(service, ARGS["file"], ARGS["rooms"]["Plain"], file_name="fav.bin")
    marked = await nodes.add_favorite(node.id)
    seen_marked = (await nodes.get_node(node.id)).isFavorite
    seen_by_alice = (await alice.nodes.get_node(node.id)).isFavorite
    await nodes.delete_favorite(node.id)
    seen_unmarked = (await nodes.get_node(node.id)).isFavorite
    first = await nodes.add_node_comment(node.id, nodes.make_comment("Looks good"))
    second = await alice.nodes.add_node_comment(node.id, alice.nodes.make_comment("Agreed"))
    listed = await nodes.get_node_comments(node.id)
    counted = (await nodes.get_node(node.id)).cntComments
    await service.logout()
    await alice.logout()
    return {
        "marked": marked.isFavorite,
        "seen": [seen_marked, seen_by_alice, seen_unmarked],
        "comments": [[c.text, c.createdBy.userName, c.isDeleted] for c in listed.items],
        "ids": [first.id, second.id],
        "counted": counted,
    }


run(main)
"""

ACCOUNT_AND_KEYS = """
from dracoon.crypto import decrypt_file_key, encrypt_file_key_public


async def main():
    service = await login("service")
    account = await service.user.get_account_information()
    updated = await service.user.update_account_information(service.user.make_account_update(
        first_name="Serv", last_name="Ice", phone="+49 30 1234", language="de"))
    reread = await service.user.get_account_information()
    # carol has no key pair yet: she creates one, gets the file key from service, reads the
    # file, then deletes her key pair again.
    carol = await login("carol", unlock=False)
    no_pair = await expect(HTTPNotFoundError, carol.user.get_user_keypair())
    node = await upload(service, ARGS["file"], ARGS["rooms"]["Recordings"], file_name="k.bin")
    missing_before = (await service.nodes.get_missing_file_keys(file_id=node.id)).range.total
    await carol.user.set_user_keypair(ARGS["users"]["carol"]["secret"])
    await carol.get_keypair(ARGS["users"]["carol"]["secret"])
    twice = await expect(HTTPConflictError,
                         carol.user.set_user_keypair(ARGS["users"]["carol"]["secret"]))
    missing = await service.nodes.get_missing_file_keys(file_id=node.id)
    items = []
    for item in missing.items:
        own = next(f.fileKeyContainer for f in missing.files if f.id == item.fileId)
        public = next(u.publicKeyContainer for u in missing.users if u.id == item.userId)
        plain = decrypt_file_key(file_key=own, keypair=service.plain_keypair)
        items.append(service.nodes.make_set_file_key_item(
            file_id=item.fileId, user_id=item.userId,
            file_key=encrypt_file_key_public(plain_file_key=plain, public_key=public)))
    await service.nodes.set_file_keys(service.nodes.make_set_file_keys(file_key_list=items))
    missing_after = (await service.nodes.get_missing_file_keys(file_id=node.id)).range.total
    carol_bytes = await download(carol, node.id)
    await carol.user.delete_user_keypair()
    pair_gone = await expect(HTTPNotFoundError, carol.user.get_user_keypair())
    key_gone = await expect(HTTPForbiddenError, carol.nodes.get_user_file_key(node.id))
    await service.logout()
    await carol.logout()
    return {
        "account": [account.userName, account.firstName, account.language],
        "updated": [updated.firstName, updated.lastName, updated.phone, updated.language],
        "reread": [reread.firstName, reread.lastName, reread.phone, reread.language],
        "no_pair": no_pair,
        "missing_before": missing_before,
        "missing": sorted([i.userId, i.fileId] for i in missing.items),
        "twice": twice,
        "missing_after": missing_after,
        "carol_bytes": carol_bytes,
        "pair_gone": pair_gone,
        "key_gone": key_gone,
        "file": node.id,
    }


run(main)
"""


def _seed(test_key_pairs, s3_direct: bool) -> dict:
    """The default seed plus ``carol``: a reader of Recordings who has no key pair yet."""
    seed = default_seed(test_key_pairs, s3_direct=s3_direct)
    seed["users"].append({"login": "carol", "password": login_password("carol")})
    seed["rooms"][0]["members"].append({"login": "carol", "permissions": ["read"]})
    return seed


def _admin(server, what: str):
    response = one_shot_request("GET", f"{server.base_url}/emulator/{what}")
    assert response.status == 200, response.data
    return response.json()


def _nodes_by_path(server) -> dict[str, dict]:
    return {n["path"]: n for n in _admin(server, "nodes")}


def _users(server) -> dict[str, int]:
    return {u["login"]: u["id"] for u in _admin(server, "users")}


def _file(tmp_path, name: str, size: int) -> tuple[str, str]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return str(path), hashlib.sha256(data).hexdigest()


def _run(server, test_key_pairs, script: str, **args) -> dict:
    users = {
        login: {
            "login": login,
            "password": login_password(login),
            "secret": test_key_pairs[login][1] if login in test_key_pairs else "carol-crypto-pw",
        }
        for login in ("service", "alice", "bob", "carol")
    }
    rooms = {name: _nodes_by_path(server)[f"/{name}"]["id"] for name in ("Recordings", "Plain")}
    return run_sdk_script(
        PRELUDE + script,
        args={"base_url": server.base_url, "users": users, "rooms": rooms, **args},
    )


@pytest.mark.parametrize("s3_direct", MODES, ids=MODE_IDS)
def test_rooms_and_folders(emulator_factory, test_key_pairs, s3_direct):
    server = emulator_factory(_seed(test_key_pairs, s3_direct))
    result = _run(server, test_key_pairs, ROOMS_AND_FOLDERS)
    assert result["room"]["manage"] is True and result["room"]["inherit"] is False
    assert result["admins"] == [["service", True]]
    assert result["sub_inherits"] is True
    assert result["renamed"] == ["Projects 2026", "renamed"]
    assert result["folder"] == [True, "Final", "done", result["room"]["id"]]
    assert result["clash"] == "HTTPConflictError"
    assert result["before_delete"] == [["Final", "folder"], ["Team", "room"]]
    assert result["parents"] == ["Projects 2026", "Final"]
    assert result["after_delete"] == [["Team", "room"]]
    assert result["bin"] == ["Final"]
    assert result["gone"] == ["HTTPNotFoundError", "HTTPNotFoundError"]
    assert result["not_emulated"] == ["HTTPNotFoundError", "HTTPNotFoundError"]
    paths = _nodes_by_path(server)
    assert not [p for p in paths if p.startswith("/Projects")], "the room was not deleted"


@pytest.mark.parametrize("s3_direct", MODES, ids=MODE_IDS)
def test_files_versions_and_recycle_bin(emulator_factory, test_key_pairs, tmp_path, s3_direct):
    server = emulator_factory(_seed(test_key_pairs, s3_direct))
    files, digests = {}, {}
    for room in ("Recordings", "Plain"):
        entries = [
            _file(tmp_path, f"{room}-v1.bin", 70_001),
            _file(tmp_path, f"{room}-v2.bin", 6 * 1024 * 1024 + 3),  # two S3 parts
            _file(tmp_path, f"{room}-other.bin", 10),
        ]
        files[room] = [path for path, _ in entries]
        digests[room] = [digest for _, digest in entries]
    result = _run(server, test_key_pairs, FILES_VERSIONS_RECYCLE_BIN, files=files)
    paths = _nodes_by_path(server)
    for room, encrypted in (("Recordings", True), ("Plain", False)):
        got = result[room]
        v1, v2 = got["v1"], got["v2"]
        assert got["encrypted"] == [encrypted, encrypted]
        assert got["same_reference"] is True
        assert got["versions"] == [[v1, True], [v2, False]]
        assert got["deleted_versions"] == [v1]
        assert got["latest"] == digests[room][1], f"{room}: v2 read back other bytes"
        assert got["summary"] == [["talk.bin", 2, v2]]
        assert got["deleted"][:3] == ["talk.bin", paths[f"/{room}"]["id"], 70_001]
        assert got["restored"] == ["talk.bin", paths[f"/{room}"]["id"]]
        assert got["restored_bytes"] == digests[room][0], f"{room}: restored v1 differs"
        assert got["purged"] == "HTTPNotFoundError"
        assert got["bin_after_empty"] == 0
        assert got["listing"] == [["talk.bin", "file"]]
        # Final state on the server: exactly the restored v1, with its size and keys.
        restored = paths[f"/{room}/talk.bin"]
        assert restored["id"] == v1 and restored["size"] == 70_001
        if not encrypted:
            assert restored["sha256"] == digests[room][0]
    users = _users(server)
    recordings_file = paths["/Recordings/talk.bin"]
    assert {users["service"], users["alice"], users["bob"]} <= set(
        recordings_file["fileKeyUserIds"]
    )


@pytest.mark.parametrize("s3_direct", MODES, ids=MODE_IDS)
def test_copy_and_move(emulator_factory, test_key_pairs, tmp_path, s3_direct):
    server = emulator_factory(_seed(test_key_pairs, s3_direct))
    files, digests = {}, {}
    for room in ("Recordings", "Plain"):
        files[room], digests[room] = _file(tmp_path, f"{room}.bin", 123_457)
    result = _run(server, test_key_pairs, COPY_AND_MOVE, files=files)
    paths = _nodes_by_path(server)
    for room in ("Recordings", "Plain"):
        got = result[room]
        archive = got["archive"]
        assert got["copy_target"] == archive
        assert got["copied"] == [True, "a.bin", archive, 123_457]
        assert got["copied_bytes"] == digests[room] == got["copied_bytes_alice"]
        assert got["refused"] == "HTTPConflictError"
        assert got["moved"][1:] == ["moved.bin", archive]
        assert got["moved_bytes"] == digests[room] == got["moved_bytes_alice"]
        assert got["parents"] == [paths[f"/{room}"]["id"], archive]
        assert got["room_listing"] == [["Archive", "folder"]]
        assert got["archive_listing"] == [["a.bin", "file"], ["moved.bin", "file"]]
        assert paths[f"/{room}/Archive/moved.bin"]["id"] == got["moved"][0]
        assert paths[f"/{room}/Archive/a.bin"]["size"] == 123_457
    assert result["crossing"] == "HTTPBadRequestError"
    assert "/Plain/Archive/moved (1).bin" not in paths


@pytest.mark.parametrize("s3_direct", MODES, ids=MODE_IDS)
def test_favourites_and_comments(emulator_factory, test_key_pairs, tmp_path, s3_direct):
    server = emulator_factory(_seed(test_key_pairs, s3_direct))
    path, _ = _file(tmp_path, "fav.bin", 1000)
    result = _run(server, test_key_pairs, FAVOURITES_AND_COMMENTS, file=path)
    assert result["marked"] is True
    assert result["seen"] == [True, False, False]  # favourites are per user
    assert result["comments"] == [["Looks good", "service", False], ["Agreed", "alice", False]]
    assert result["ids"][0] < result["ids"][1]
    assert result["counted"] == 2


@pytest.mark.parametrize("s3_direct", MODES, ids=MODE_IDS)
def test_account_key_pair_and_missing_keys(emulator_factory, test_key_pairs, tmp_path, s3_direct):
    server = emulator_factory(_seed(test_key_pairs, s3_direct))
    path, digest = _file(tmp_path, "k.bin", 4321)
    result = _run(server, test_key_pairs, ACCOUNT_AND_KEYS, file=path)
    users = _users(server)
    assert result["account"][0] == "service"
    assert result["updated"] == ["Serv", "Ice", "+49 30 1234", "de"]
    assert result["reread"] == result["updated"]
    assert result["no_pair"] == "HTTPNotFoundError"
    assert result["missing_before"] == 0  # carol had no key pair: nobody could be given one
    assert result["missing"] == [[users["carol"], result["file"]]]
    assert result["twice"] == "HTTPConflictError"
    assert result["missing_after"] == 0
    assert result["carol_bytes"] == digest
    assert result["pair_gone"] == "HTTPNotFoundError"
    assert result["key_gone"] == "HTTPForbiddenError"
    stored = next(n for n in _admin(server, "nodes") if n["id"] == result["file"])
    assert users["carol"] not in stored["fileKeyUserIds"]  # her key went with her key pair
    carol = next(u for u in _admin(server, "users") if u["login"] == "carol")
    assert not carol.get("keyPairVersions")
