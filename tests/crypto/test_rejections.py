"""Every bad input in the vectors README's table is rejected with the right exception."""

from __future__ import annotations

import pytest

from recording_storage.dracoon.crypto import (
    EncryptedFileKey,
    FileDecrypter,
    InvalidFileKeyError,
    InvalidKeyPairError,
    InvalidPasswordError,
    PlainFileKey,
    PrivateKeyContainer,
    PublicKeyContainer,
    TagMismatchError,
    UnknownVersionError,
    UserKeyPair,
    UserKeyPairContainer,
    VersionMismatchError,
    decrypt_file_key,
)
from recording_storage.dracoon.crypto import file_keys as file_keys_module

from .vectors import (
    UNIT_PW,
    UNIT_PW_INVALID,
    container_from_names,
    encrypted_file_key,
    plain_file_key,
)

UNIT = "unit/data"
UNIT_ENC_FILE = "unit/files/aes256gcm/enc_file.b64"


@pytest.mark.parametrize(
    ("private", "public", "error"),
    [
        (
            "kp_general/private_key_bad_version.json",
            "kp_rsa2048/public_key.json",
            UnknownVersionError,
        ),
        ("kp_general/private_key_bad_pem.json", "kp_rsa2048/public_key.json", InvalidKeyPairError),
        (
            "kp_general/private_key_bad_value.json",
            "kp_rsa2048/public_key.json",
            InvalidKeyPairError,
        ),
        (
            "kp_rsa2048/private_key.json",
            "kp_general/public_key_bad_version.json",
            UnknownVersionError,
        ),
        ("kp_rsa2048/private_key.json", "kp_general/public_key_bad_pem.json", InvalidKeyPairError),
        (
            "kp_rsa2048/private_key.json",
            "kp_general/public_key_bad_value.json",
            InvalidKeyPairError,
        ),
    ],
)
def test_broken_key_pair_files(crypto_vectors, private, public, error):
    container = container_from_names(crypto_vectors, f"{UNIT}/{private}", f"{UNIT}/{public}")
    with pytest.raises(error):
        UserKeyPair.unlock(container, crypto_vectors.text(UNIT_PW))


@pytest.mark.parametrize(
    "private", ["private_key_bad_version", "private_key_bad_pem", "private_key_bad_value"]
)
def test_broken_private_key_alone(crypto_vectors, private):
    """The same files without a public key: the private key itself is what is rejected."""
    container = container_from_names(crypto_vectors, f"{UNIT}/kp_general/{private}.json", None)
    expected = UnknownVersionError if private.endswith("version") else InvalidKeyPairError
    with pytest.raises(expected):
        UserKeyPair.unlock(container, crypto_vectors.text(UNIT_PW))


def test_wrong_password(crypto_vectors):
    container = container_from_names(
        crypto_vectors, f"{UNIT}/kp_rsa2048/private_key.json", f"{UNIT}/kp_rsa2048/public_key.json"
    )
    with pytest.raises(InvalidPasswordError):
        UserKeyPair.unlock(container, crypto_vectors.text(UNIT_PW_INVALID))


def test_encrypted_file_key_bad_version(crypto_vectors):
    with pytest.raises(UnknownVersionError):
        encrypted_file_key(crypto_vectors, f"{UNIT}/fk_general/enc_file_key_bad_version.json")


def test_encrypted_file_key_bad_rsa_part(crypto_vectors, unit_key_pairs):
    encrypted = encrypted_file_key(crypto_vectors, f"{UNIT}/fk_general/enc_file_key_bad_key.json")
    key_pair = unit_key_pairs["A" if encrypted.version == "A" else "RSA-4096"]
    with pytest.raises(InvalidFileKeyError):
        decrypt_file_key(encrypted, key_pair)


@pytest.mark.parametrize("name", ["enc_file_key_bad_iv", "enc_file_key_bad_tag"])
def test_encrypted_file_key_bad_iv_or_tag_fails_at_gcm(crypto_vectors, unit_key_pairs, name):
    """RSA part intact: unwrapping works, but decrypting the file fails the tag check."""
    encrypted = encrypted_file_key(crypto_vectors, f"{UNIT}/fk_general/{name}.json")
    key_pair = unit_key_pairs["A" if encrypted.version == "A" else "RSA-4096"]
    plain = decrypt_file_key(encrypted, key_pair)
    decrypter = FileDecrypter(plain)
    decrypter.decrypt(crypto_vectors.b64(UNIT_ENC_FILE))
    with pytest.raises(TagMismatchError):
        decrypter.finalize()


def test_plain_file_key_bad_version(crypto_vectors):
    with pytest.raises(UnknownVersionError):
        plain_file_key(crypto_vectors, f"{UNIT}/fk_general/plain_file_key_bad_version.json")


@pytest.mark.parametrize(
    "name", ["plain_file_key_bad_key", "plain_file_key_bad_iv", "plain_file_key_bad_tag"]
)
def test_plain_file_key_one_char_changed_fails_at_gcm(crypto_vectors, name):
    plain = plain_file_key(crypto_vectors, f"{UNIT}/fk_general/{name}.json")
    decrypter = FileDecrypter(plain)
    decrypter.decrypt(crypto_vectors.b64(UNIT_ENC_FILE))
    with pytest.raises(TagMismatchError):
        decrypter.finalize()


def test_incompatible_versions_rejected_before_rsa(crypto_vectors, unit_key_pairs, monkeypatch):
    encrypted = encrypted_file_key(crypto_vectors, f"{UNIT}/fk_rsa2048_aes256gcm/enc_file_key.json")

    def no_rsa(*args, **kwargs):
        raise AssertionError("RSA work was started for an incompatible file key")

    monkeypatch.setattr(file_keys_module, "_oaep", no_rsa)
    with pytest.raises(VersionMismatchError):
        decrypt_file_key(encrypted, unit_key_pairs["RSA-4096"])


def test_modified_ciphertext_fails_tag_check(crypto_vectors):
    plain = plain_file_key(crypto_vectors, f"{UNIT}/fk_rsa2048_aes256gcm/plain_file_key.json")
    decrypter = FileDecrypter(plain)
    decrypter.decrypt(crypto_vectors.b64("unit/files/aes256gcm/enc_file_modified.b64"))
    with pytest.raises(TagMismatchError):
        decrypter.finalize()


@pytest.mark.parametrize("folder", ["file_key", "user_key_pair"])
def test_java_sdk_placeholder_key_pairs(crypto_vectors, folder):
    data = crypto_vectors.json(f"java-sdk/crypto/{folder}/user_key_pair_2048.json")
    # Java-SDK layout (userPrivateKey/userPublicKey, enum versions); read it as the real one.
    container = UserKeyPairContainer(
        PrivateKeyContainer("A", data["userPrivateKey"]["privateKey"]),
        PublicKeyContainer("A", data["userPublicKey"]["publicKey"]),
    )
    with pytest.raises(InvalidKeyPairError):
        UserKeyPair.unlock(container, "Qwer1234!")
    with pytest.raises(InvalidKeyPairError):  # the literal shape is not a key pair container
        UserKeyPairContainer.from_json(data)


@pytest.mark.parametrize("name", ["enc_file_key.json", "plain_file_key.json"])
def test_java_sdk_file_keys_taken_literally(crypto_vectors, name):
    data = crypto_vectors.json(f"java-sdk/crypto/file_key/{name}")
    parse = EncryptedFileKey.from_json if name.startswith("enc") else PlainFileKey.from_json
    with pytest.raises(UnknownVersionError):
        parse(data)
