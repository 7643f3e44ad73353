"""Cross-implementation with DRACOON's official Python SDK (``dracoon`` 1.x, own venv).

What we make (key pair, file keys, ciphertext) the SDK opens, and what the SDK makes we open.
RSA-4096 only: the SDK's "A" OAEP parameters are wrong (swapped hashes), which the last test
pins down. The SDK encodes passwords as ASCII, so the passwords here are ASCII.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from recording_storage.dracoon.crypto import (
    EncryptedFileKey,
    FileDecrypter,
    FileEncrypter,
    InvalidFileKeyError,
    PlainFileKey,
    PublicKeyContainer,
    UserKeyPair,
    UserKeyPairContainer,
    decrypt_file_key,
    encrypt_file_key,
    generate_user_key_pair,
)
from tests.support.official_sdk import run_sdk_script

# One xdist worker runs this module's tests (scripts/test.sh: --dist loadgroup):
# our key pair and the SDK's runs (module fixtures) are made once, not on every worker.
pytestmark = [
    pytest.mark.official_sdk,
    pytest.mark.slow,
    pytest.mark.xdist_group("official_sdk_crypto"),
]

OUR_PASSWORD = "Our-Encryption-Pw-1"
SDK_PASSWORD = "Sdk-Encryption-Pw-2"
FILE_SIZE = 1_000_003  # not a multiple of 16 or of the chunk size
CHUNK = 65_535

SDK_MAKES = """
import base64, os
from dracoon import crypto
from dracoon.crypto.models import PublicKeyContainer, UserKeyPairVersion

plain_kp = crypto.create_plain_userkeypair(UserKeyPairVersion.RSA4096)
container = crypto.encrypt_private_key(ARGS["password"], plain_kp)
data = os.urandom(ARGS["size"])
file_key = crypto.create_file_key()
cipher = crypto.FileEncryptionCipher(file_key)
parts = [cipher.encode_bytes(data[i:i + 40_000]) for i in range(0, len(data), 40_000)]
last, file_key = cipher.finalize()
with open(ARGS["dir"] + "/sdk_plain.bin", "wb") as out:
    out.write(data)
with open(ARGS["dir"] + "/sdk_cipher.bin", "wb") as out:
    out.write(b"".join(parts) + last)
for_us = crypto.encrypt_file_key_public(file_key, PublicKeyContainer(**ARGS["our_public"]))
for_a = crypto.encrypt_file_key_public(file_key, PublicKeyContainer(**ARGS["a_public"]))
print(json.dumps({
    "container": container.model_dump(mode="json", exclude_none=True),
    "file_key_for_sdk": crypto.encrypt_file_key(file_key, plain_kp).model_dump(mode="json"),
    "file_key_for_us": for_us.model_dump(mode="json"),
    "file_key_for_a": for_a.model_dump(mode="json"),
    "plain_file_key": file_key.model_dump(mode="json"),
}))
"""

SDK_READS = """
import hashlib
from dracoon import crypto
from dracoon.crypto.models import FileKey, UserKeyPairContainer

def unwrap(container, password, file_key):
    plain_kp = crypto.decrypt_private_key(password, UserKeyPairContainer(**container))
    return crypto.decrypt_file_key(FileKey(**file_key), plain_kp)

ours = unwrap(ARGS["our_container"], ARGS["our_password"], ARGS["our_file_key"])
cipher = crypto.FileDecryptionCipher(ours)
digest = hashlib.sha256()
with open(ARGS["dir"] + "/our_cipher.bin", "rb") as source:
    while chunk := source.read(50_000):
        digest.update(cipher.decode_bytes(chunk))
digest.update(cipher.finalize())  # raises InvalidTag on a mismatch
for_sdk = unwrap(ARGS["sdk_container"], ARGS["sdk_password"], ARGS["file_key_for_sdk"])
print(json.dumps({
    "our_plain_key": ours.key, "our_plain_sha256": digest.hexdigest(),
    "rewrapped_plain_key": for_sdk.key, "rewrapped_iv": for_sdk.iv, "rewrapped_tag": for_sdk.tag,
}))
"""


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    """Our RSA-4096 key pair (generated once) and a 1 MB file encrypted in 64 KiB chunks."""
    directory = tmp_path_factory.mktemp("official_sdk")
    container = generate_user_key_pair("RSA-4096", OUR_PASSWORD)
    key_pair = UserKeyPair.unlock(container, OUR_PASSWORD)
    data = os.urandom(FILE_SIZE)
    encrypter = FileEncrypter(PlainFileKey.generate())
    buffer = bytearray(FILE_SIZE)
    view = memoryview(buffer)
    for offset in range(0, FILE_SIZE, CHUNK):
        encrypter.encrypt(data[offset : offset + CHUNK], output=view[offset : offset + CHUNK])
    plain_key = encrypter.finalize()
    (directory / "our_cipher.bin").write_bytes(buffer)
    return {
        "dir": directory,
        "container": container,
        "key_pair": key_pair,
        "data": data,
        "plain_key": plain_key,
        "file_key": encrypt_file_key(plain_key, key_pair.public_key_container),
    }


@pytest.fixture(scope="module")
def sdk_made(ours, crypto_vectors):
    a_public = crypto_vectors.json("unit/data/kp_rsa2048/public_key.json")
    return run_sdk_script(
        SDK_MAKES,
        args={
            "password": SDK_PASSWORD,
            "size": FILE_SIZE,
            "dir": str(ours["dir"]),
            "our_public": ours["key_pair"].public_key_container.to_json(),
            "a_public": a_public,
        },
    )


@pytest.fixture(scope="module")
def sdk_read(ours, sdk_made):
    """The SDK opens our key pair and file, and a file key we wrapped for the SDK's key."""
    sdk_public = PublicKeyContainer.from_json(sdk_made["container"]["publicKeyContainer"])
    rewrapped = encrypt_file_key(ours["plain_key"], sdk_public)
    return run_sdk_script(
        SDK_READS,
        args={
            "dir": str(ours["dir"]),
            "our_container": ours["container"].to_json(),
            "our_password": OUR_PASSWORD,
            "our_file_key": ours["file_key"].to_json(),
            "sdk_container": sdk_made["container"],
            "sdk_password": SDK_PASSWORD,
            "file_key_for_sdk": rewrapped.to_json(),
        },
    )


def test_sdk_opens_our_key_pair_file_key_and_file(ours, sdk_read):
    assert sdk_read["our_plain_key"] == ours["plain_key"].to_json()["key"]
    assert sdk_read["our_plain_sha256"] == hashlib.sha256(ours["data"]).hexdigest()


def test_sdk_opens_file_key_we_wrapped_for_its_public_key(ours, sdk_read):
    expected = ours["plain_key"].to_json()
    assert sdk_read["rewrapped_plain_key"] == expected["key"]
    assert (sdk_read["rewrapped_iv"], sdk_read["rewrapped_tag"]) == (
        expected["iv"],
        expected["tag"],
    )


def test_we_open_sdk_key_pair_file_key_and_file(ours, sdk_made):
    key_pair = UserKeyPair.unlock(
        UserKeyPairContainer.from_json(sdk_made["container"]), SDK_PASSWORD
    )
    plain_key = decrypt_file_key(EncryptedFileKey.from_json(sdk_made["file_key_for_sdk"]), key_pair)
    assert plain_key == PlainFileKey.from_json(sdk_made["plain_file_key"])

    decrypter = FileDecrypter(plain_key)
    digest = hashlib.sha256()
    with open(ours["dir"] / "sdk_cipher.bin", "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(decrypter.decrypt(chunk))
    decrypter.finalize()
    assert (
        digest.hexdigest()
        == hashlib.sha256((ours["dir"] / "sdk_plain.bin").read_bytes()).hexdigest()
    )


def test_we_open_file_key_sdk_wrapped_for_us(ours, sdk_made):
    plain_key = decrypt_file_key(
        EncryptedFileKey.from_json(sdk_made["file_key_for_us"]), ours["key_pair"]
    )
    assert plain_key == PlainFileKey.from_json(sdk_made["plain_file_key"])


def test_sdk_version_a_file_keys_are_not_java_compatible(sdk_made, unit_key_pairs):
    """The SDK wraps "A" keys with OAEP SHA-1/MGF1-SHA-256 (swapped); Java and we reject them."""
    wrapped = EncryptedFileKey.from_json(sdk_made["file_key_for_a"])
    assert wrapped.version == "A"
    with pytest.raises(InvalidFileKeyError):
        decrypt_file_key(wrapped, unit_key_pairs["A"])
