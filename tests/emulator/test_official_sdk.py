"""DRACOON's official Python SDK (dracoon 1.13.0, own venv) against the emulator, unchanged:
password login, RSA-4096 unlock, encrypted uploads (classic and S3, one and several
chunks), downloads compared byte for byte, and missing-key distribution to a user who
then decrypts the file. No faults here: the SDK sleeps 5-15 s before each retry."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.support.emulator_fixtures import default_seed, login_password
from tests.support.official_sdk import run_sdk_script

pytestmark = [pytest.mark.official_sdk, pytest.mark.slow]

SDK_SCRIPT = """
import asyncio, hashlib, os, tempfile
import httpx
from dracoon import DRACOON, OAuth2ConnectionType


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


async def login(user):
    client = DRACOON(base_url=ARGS["base_url"], raise_on_err=True)
    await client.connect(OAuth2ConnectionType.password_flow, user["login"], user["password"])
    await client.get_keypair(user["secret"])
    return client


async def download(client, node_id, name):
    target = tempfile.mkdtemp()
    await client.download(target_path=target, source_node_id=node_id)
    return digest(os.path.join(target, name))


async def main():
    service = await login(ARGS["service"])
    result = {"version": service.plain_keypair.publicKeyContainer.version, "uploads": {}}
    for path, chunk in ARGS["files"]:
        uploaded = await service.upload(
            file_path=path, target_parent_id=ARGS["room_id"], chunksize=chunk
        )
        node = getattr(uploaded, "node", None) or uploaded  # S3 mode returns a status
        name = os.path.basename(path)
        result["uploads"][name] = {
            "id": node.id,
            "encrypted": node.isEncrypted,
            "size": node.size,
            "service": await download(service, node.id, name),
        }
    # alice joins the room only now; service hands her the file keys it holds.
    async with httpx.AsyncClient() as admin:
        grant = await admin.put(
            ARGS["base_url"] + f"/emulator/rooms/{ARGS['room_id']}/members",
            json={"login": "alice", "permissions": ["read"]},
        )
        grant.raise_for_status()
    missing = await service.nodes.get_missing_file_keys(room_id=ARGS["room_id"], limit=100)
    result["missing_before"] = sorted((i.userId, i.fileId) for i in missing.items)
    from dracoon.crypto import decrypt_file_key, encrypt_file_key_public
    items = []
    for item in missing.items:
        own = next(f.fileKeyContainer for f in missing.files if f.id == item.fileId)
        public = next(u.publicKeyContainer for u in missing.users if u.id == item.userId)
        plain = decrypt_file_key(file_key=own, keypair=service.plain_keypair)
        items.append(service.nodes.make_set_file_key_item(
            file_id=item.fileId, user_id=item.userId,
            file_key=encrypt_file_key_public(plain_file_key=plain, public_key=public)))
    keys = service.nodes.make_set_file_keys(file_key_list=items)
    await service.nodes.set_file_keys(file_keys=keys)
    after = await service.nodes.get_missing_file_keys(room_id=ARGS["room_id"], limit=100)
    result["missing_after"] = after.range.total
    alice = await login(ARGS["alice"])
    for name, upload in result["uploads"].items():
        upload["alice"] = await download(alice, upload["id"], name)
    await service.logout()
    await alice.logout()
    return result


print(__import__("json").dumps(asyncio.run(main())))
"""


def _files(tmp_path, sizes_and_chunks):
    files, digests = [], {}
    for index, (size, chunk) in enumerate(sizes_and_chunks):
        path = tmp_path / f"recording-{index}-{size}.bin"
        data = os.urandom(size)
        path.write_bytes(data)
        files.append([str(path), chunk])
        digests[path.name] = hashlib.sha256(data).hexdigest()
    return files, digests


@pytest.mark.parametrize(
    ("s3_direct", "sizes_and_chunks"),
    [
        # classic: one chunk, then 3 chunks of 100 KiB (the SDK's malformed Content-Range)
        (False, [(1000, 32 * 1024 * 1024), (300 * 1024 + 7, 100 * 1024)]),
        # S3: one part, then 5 MiB + 5 MiB + rest (the SDK raises chunks to >= 5 MiB)
        (True, [(1000, 5 * 1024 * 1024), (10 * 1024 * 1024 + 4321, 5 * 1024 * 1024)]),
    ],
    ids=["classic", "s3"],
)
def test_official_sdk_round_trip(
    emulator_factory, test_key_pairs, tmp_path, s3_direct, sizes_and_chunks
):
    seed = default_seed(test_key_pairs, s3_direct=s3_direct)
    recordings = seed["rooms"][0]
    recordings["members"] = [m for m in recordings["members"] if m["login"] != "alice"]
    server = emulator_factory(seed)
    room_id = next(n["id"] for n in _admin_nodes(server) if n["name"] == "Recordings")
    files, digests = _files(tmp_path, sizes_and_chunks)

    def account(login):
        return {
            "login": login,
            "password": login_password(login),
            "secret": test_key_pairs[login][1],
        }

    result = run_sdk_script(
        SDK_SCRIPT,
        args={
            "base_url": server.base_url,
            "room_id": room_id,
            "files": files,
            "service": account("service"),
            "alice": account("alice"),
        },
    )
    assert result["version"] == "RSA-4096"
    assert set(result["uploads"]) == set(digests)
    for name, upload in result["uploads"].items():
        assert upload["encrypted"] is True
        assert upload["service"] == digests[name], f"{name}: service read back other bytes"
        assert upload["alice"] == digests[name], f"{name}: alice could not decrypt"
    file_ids = sorted(u["id"] for u in result["uploads"].values())
    alice_id = next(u["id"] for u in _admin(server, "users") if u["login"] == "alice")
    assert result["missing_before"] == [[alice_id, file_id] for file_id in file_ids]
    assert result["missing_after"] == 0
    # bob was a reader from the start: the SDK gave him his key right after each upload.
    bob_id = next(u["id"] for u in _admin(server, "users") if u["login"] == "bob")
    stored = {n["id"]: n for n in _admin_nodes(server)}
    for file_id in file_ids:
        assert bob_id in stored[file_id]["fileKeyUserIds"]
        assert stored[file_id]["size"] == next(
            u["size"] for u in result["uploads"].values() if u["id"] == file_id
        )


def _admin(server, what):
    from tests.emulator.conftest import one_shot_request

    response = one_shot_request("GET", f"{server.base_url}/emulator/{what}")
    assert response.status == 200
    return response.json()


def _admin_nodes(server):
    return _admin(server, "nodes")
