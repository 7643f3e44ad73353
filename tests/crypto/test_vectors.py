"""Every good official vector opens: key pairs (with their passwords), file keys, files."""

from __future__ import annotations

import pytest

from recording_storage.dracoon.crypto import (
    EncryptedFileKey,
    FileDecrypter,
    FileEncrypter,
    PlainFileKey,
    decrypt_file_key,
    encrypt_file_key,
)

from .vectors import (
    GOOD_KEY_PAIRS,
    SDKS_WITH_FILES,
    KeyPairVector,
    encrypted_file_key,
    java_mapped,
    plain_file_key,
)

KEY_PAIR_PARAMS = [
    pytest.param(v, id=v.id, marks=[pytest.mark.slow] if v.slow_kdf else []) for v in GOOD_KEY_PAIRS
]


@pytest.mark.parametrize("vector", KEY_PAIR_PARAMS)
def test_good_key_pair_unlocks(vector: KeyPairVector, unlock_vector):
    key_pair = unlock_vector(vector)
    assert key_pair.version == vector.version
    assert key_pair.modulus_bits == (2048 if vector.version == "A" else 4096)
    assert key_pair.public_key_container.version == vector.version


def test_every_private_key_file_is_covered(crypto_vectors):
    """Guards against vectors added upstream (and extracted) but forgotten here."""
    good = {v.private_name for v in GOOD_KEY_PAIRS}
    rejected = {
        f"unit/data/kp_general/private_key_{suffix}.json"
        for suffix in ("bad_version", "bad_pem", "bad_value")
    }
    found = {
        name
        for name in crypto_vectors.names()
        if name.rpartition("/")[2].startswith("private_key") and name.endswith(".json")
    }
    assert good <= found
    assert found - good == rejected


def _key_pair_for(sdk: str, version: str) -> KeyPairVector:
    folder = "data/kp_rsa2048" if version == "A" else "data/kp_rsa4096"
    return next(
        v
        for v in GOOD_KEY_PAIRS
        if v.sdk == sdk and v.folder == folder and v.private_file == "private_key.json"
    )


@pytest.mark.parametrize("sdk", SDKS_WITH_FILES)
@pytest.mark.parametrize(
    ("folder", "version"),
    [("fk_rsa2048_aes256gcm", "A"), ("fk_rsa4096_aes256gcm", "RSA-4096/AES-256-GCM")],
)
def test_file_key_vector_decrypts(crypto_vectors, unlock_vector, sdk, folder, version):
    data = f"{sdk}/data/{folder}"
    encrypted = encrypted_file_key(crypto_vectors, f"{data}/enc_file_key.json")
    assert encrypted.version == version
    key_pair = unlock_vector(_key_pair_for(sdk, "A" if version == "A" else "RSA-4096"))
    expected = plain_file_key(crypto_vectors, f"{data}/plain_file_key.json")
    assert decrypt_file_key(encrypted, key_pair) == expected


@pytest.mark.parametrize("sdk", SDKS_WITH_FILES)
def test_file_key_vector_rewraps_to_same_plain_key(crypto_vectors, unlock_vector, sdk):
    """Our wrapping of a vector key unwraps again with the vector's own key pair."""
    plain = plain_file_key(crypto_vectors, f"{sdk}/data/fk_rsa4096_aes256gcm/plain_file_key.json")
    key_pair = unlock_vector(_key_pair_for(sdk, "RSA-4096"))
    rewrapped = encrypt_file_key(plain, key_pair.public_key_container)
    assert rewrapped.version == "RSA-4096/AES-256-GCM"
    assert decrypt_file_key(rewrapped, key_pair) == plain


@pytest.mark.parametrize("sdk", SDKS_WITH_FILES)
@pytest.mark.parametrize("chunk", [1, 5, 7, 16, 17, 64, None])
def test_file_vector_decrypts_and_reencrypts(crypto_vectors, sdk, chunk):
    plain_key = plain_file_key(
        crypto_vectors, f"{sdk}/data/fk_rsa2048_aes256gcm/plain_file_key.json"
    )
    ciphertext = crypto_vectors.b64(f"{sdk}/files/aes256gcm/enc_file.b64")
    plaintext = crypto_vectors.b64(f"{sdk}/files/plain_file.b64")
    assert len(ciphertext) == len(plaintext)
    step = chunk or max(len(ciphertext), 1)

    decrypter = FileDecrypter(plain_key)
    out = b"".join(
        decrypter.decrypt(ciphertext[i : i + step]) for i in range(0, len(ciphertext), step)
    )
    decrypter.finalize()
    assert out == plaintext

    encrypter = FileEncrypter(PlainFileKey(plain_key.key, plain_key.iv))
    again = b"".join(
        encrypter.encrypt(plaintext[i : i + step]) for i in range(0, len(plaintext), step)
    )
    assert again == ciphertext
    assert encrypter.finalize().tag == plain_key.tag


def test_file_vector_through_full_chain(crypto_vectors, unlock_vector):
    """Encrypted file key -> private key -> plain key -> file, as a download would do it."""
    key_pair = unlock_vector(_key_pair_for("js", "A"))
    plain_key = decrypt_file_key(
        encrypted_file_key(crypto_vectors, "js/data/fk_rsa2048_aes256gcm/enc_file_key.json"),
        key_pair,
    )
    decrypter = FileDecrypter(plain_key)
    out = decrypter.decrypt(crypto_vectors.b64("js/files/aes256gcm/enc_file.b64"))
    decrypter.finalize()
    assert out == crypto_vectors.b64("js/files/plain_file.b64")


def test_java_sdk_file_key_with_mapped_versions(crypto_vectors, unit_key_pairs):
    folder = "java-sdk/crypto/file_key"
    encrypted = EncryptedFileKey.from_json(
        java_mapped(crypto_vectors.json(f"{folder}/enc_file_key.json"))
    )
    expected = PlainFileKey.from_json(
        java_mapped(crypto_vectors.json(f"{folder}/plain_file_key.json"))
    )
    assert encrypted.version == "RSA-4096/AES-256-GCM"
    assert decrypt_file_key(encrypted, unit_key_pairs["RSA-4096"]) == expected


def test_modified_plain_file_encrypts_differently(crypto_vectors):
    plain_key = plain_file_key(crypto_vectors, "unit/data/fk_rsa2048_aes256gcm/plain_file_key.json")
    original = crypto_vectors.b64("unit/files/aes256gcm/enc_file.b64")
    encrypter = FileEncrypter(PlainFileKey(plain_key.key, plain_key.iv))
    ciphertext = encrypter.encrypt(crypto_vectors.b64("unit/files/plain_file_modified.b64"))
    tag = encrypter.finalize().tag
    assert ciphertext != original
    assert tag != plain_key.tag


def test_empty_file_tag_for_unit_key(crypto_vectors):
    """0-byte file: no ciphertext, tag = AES_K(J0) (derived value from the reference)."""
    plain_key = plain_file_key(crypto_vectors, "unit/data/fk_rsa2048_aes256gcm/plain_file_key.json")
    encrypter = FileEncrypter(PlainFileKey(plain_key.key, plain_key.iv))
    assert encrypter.encrypt(b"") == b""
    finished = encrypter.finalize()
    assert finished.to_json()["tag"] == "PE+yEH3OImFTqet6g3RqLw=="
    decrypter = FileDecrypter(finished)
    decrypter.finalize()
