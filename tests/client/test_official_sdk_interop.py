"""Interoperability with DRACOON's official Python SDK (``dracoon`` 1.13.0, own venv), RSA-4096:
a file our client uploads into an encrypted room is downloaded and decrypted by the SDK, and a
file the SDK uploads is read by our client."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from tests.support.emulator_fixtures import default_seed, login_password
from tests.support.official_sdk import run_sdk_script

from .conftest import node_id

pytestmark = [pytest.mark.official_sdk, pytest.mark.slow]

MiB = 1024 * 1024

SDK_DOWNLOAD = r"""
import asyncio, hashlib, logging, os, tempfile
from dracoon import DRACOON, OAuth2ConnectionType

async def main():
    target = tempfile.mkdtemp()
    d = DRACOON(base_url=ARGS["base_url"], raise_on_err=True,
                log_file=os.path.join(target, "sdk.log"), log_level=logging.WARNING)
    await d.connect(OAuth2ConnectionType.password_flow, ARGS["login"], ARGS["password"])
    await d.get_keypair(secret=ARGS["secret"])
    await d.download(target_path=target, source_node_id=ARGS["node"])
    with open(os.path.join(target, ARGS["name"]), "rb") as f:
        data = f.read()
    await d.logout()
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

print(json.dumps(asyncio.run(main())))
"""

SDK_UPLOAD = r"""
import asyncio, logging, os, tempfile
from dracoon import DRACOON, OAuth2ConnectionType

async def main():
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, ARGS["name"])
    with open(path, "wb") as f:
        f.write(bytes.fromhex(ARGS["hex"]) * ARGS["repeat"])
    d = DRACOON(base_url=ARGS["base_url"], raise_on_err=True,
                log_file=os.path.join(folder, "sdk.log"), log_level=logging.WARNING)
    await d.connect(OAuth2ConnectionType.password_flow, ARGS["login"], ARGS["password"])
    await d.get_keypair(secret=ARGS["secret"])
    await d.upload(file_path=path, target_parent_id=ARGS["room"], chunksize=ARGS["chunk"])
    await d.logout()
    return {"ok": True}

print(json.dumps(asyncio.run(main())))
"""


@pytest.mark.parametrize("mode", ["classic", "s3"])
def test_sdk_reads_what_we_upload(emulator_factory, test_key_pairs, make_client, mode):
    server = emulator_factory(default_seed(test_key_pairs, s3_direct=mode == "s3"))
    service = make_client(server)
    data = os.urandom(6 * MiB + 123)  # several chunks/parts
    node = service.upload(
        node_id(server, "Recordings"),
        "ours.bin",
        io.BytesIO(data),
        len(data),
        chunk_size=5 * MiB if mode == "s3" else 1 * MiB,
    )
    report = service.distribute_missing_keys(file_id=node.id)
    assert report.keys_set == 2 and not report.failed
    answer = run_sdk_script(
        SDK_DOWNLOAD,
        args={
            "base_url": server.base_url,
            "login": "alice",
            "password": login_password("alice"),
            "secret": test_key_pairs["alice"][1],
            "node": node.id,
            "name": "ours.bin",
        },
    )
    assert answer == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def test_we_read_what_the_sdk_uploads(emulator, test_key_pairs, make_client):
    block = os.urandom(4096)
    repeat = 700  # 2.7 MiB: several 1 MiB SDK chunks
    run_sdk_script(
        SDK_UPLOAD,
        args={
            "base_url": emulator.base_url,
            "login": "service",
            "password": login_password("service"),
            "secret": test_key_pairs["service"][1],
            "room": node_id(emulator, "Recordings"),
            "name": "theirs.bin",
            "hex": block.hex(),
            "repeat": repeat,
            "chunk": 1 * MiB,
        },
    )
    expected = block * repeat
    service = make_client(emulator)
    file_id = node_id(emulator, "Recordings/theirs.bin")
    for client in (service, make_client(emulator, "alice")):  # the SDK gave alice her key
        out = io.BytesIO()
        assert client.download(file_id, out) == len(expected)
        assert out.getvalue() == expected
