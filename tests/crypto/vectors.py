"""DRACOON's official crypto vectors turned into this package's objects.

The values come from the project's fixture (``tests/data/dracoon-crypto-vectors.json``, read
through the ``crypto_vectors`` fixture); entries are named by their path in the original vectors
folder. Which password opens which key follows the vectors' README (summed up in docs/crypto.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from recording_storage.dracoon.crypto import (
    EncryptedFileKey,
    PlainFileKey,
    PrivateKeyContainer,
    PublicKeyContainer,
    UserKeyPairContainer,
)
from tests.support.crypto_vectors import CryptoVectors

# Java SDK mock data uses enum names instead of API version strings.
JAVA_ENUM_VERSIONS = {
    "RSA4096_AES256GCM": "RSA-4096/AES-256-GCM",
    "RSA2048_AES256GCM": "A",
    "AES256GCM": "A",
    "RSA2048": "A",
    "RSA4096": "RSA-4096",
}


@dataclass(frozen=True)
class KeyPairVector:
    """One good key pair vector: where its files are and which password opens it."""

    sdk: str
    folder: str  # relative to the sdk folder, e.g. "data/kp_rsa2048"
    private_file: str
    public_file: str | None
    password_file: str  # entry name of the password file
    version: str
    slow_kdf: bool  # 1,300,000 PBKDF2 iterations

    @property
    def id(self) -> str:
        return f"{self.sdk}/{self.folder}/{self.private_file}"

    @property
    def private_name(self) -> str:
        return f"{self.sdk}/{self.folder}/{self.private_file}"

    @property
    def public_name(self) -> str | None:
        if self.public_file is None:
            return None
        return f"{self.sdk}/{self.folder}/{self.public_file}"


def _own_pw(sdk: str, folder: str) -> str:
    return f"{sdk}/{folder}/pw.txt"


def _cross_sdk_key_pairs() -> list[KeyPairVector]:
    result = []
    for sdk in ("csharp", "js", "swift"):
        folders = [
            ("data/kp_rsa2048", "A", False),
            ("data/kp_rsa4096", "RSA-4096", False),
            ("data/kp_rsa4096_kdfv2", "RSA-4096", True),
            ("data/kp_rsa4096_pw_utf8_umlaut_emoticon", "RSA-4096", True),
        ]
        if sdk == "js":
            folders.append(("data/kp_rsa4096_pw_iso_umlaut", "RSA-4096", False))
        for folder, version, slow in folders:
            result.append(
                KeyPairVector(
                    sdk,
                    folder,
                    "private_key.json",
                    "public_key.json",
                    _own_pw(sdk, folder),
                    version,
                    slow,
                )
            )
    return result


UNIT_PW = "unit/data/kp_general/pw.txt"
UNIT_PW_UMLAUT = "unit/data/kp_general/pw_umlaut.txt"
UNIT_PW_EMOTICON = "unit/data/kp_general/pw_emoticon.txt"
UNIT_PW_INVALID = "unit/data/kp_general/pw_invalid.txt"

GOOD_KEY_PAIRS: list[KeyPairVector] = [
    *_cross_sdk_key_pairs(),
    KeyPairVector(
        "unit", "data/kp_rsa2048", "private_key.json", "public_key.json", UNIT_PW, "A", False
    ),
    KeyPairVector(
        "unit",
        "data/kp_rsa4096",
        "private_key.json",
        "public_key.json",
        UNIT_PW,
        "RSA-4096",
        False,
    ),
    KeyPairVector(
        "unit",
        "data/kp_rsa4096",
        "private_key_pw_iso_umlaut.json",
        "public_key_pw_iso_umlaut.json",
        UNIT_PW_UMLAUT,
        "RSA-4096",
        True,
    ),
    KeyPairVector(
        "unit",
        "data/kp_rsa4096",
        "private_key_pw_utf8_umlaut.json",
        "public_key_pw_utf8_umlaut.json",
        UNIT_PW_UMLAUT,
        "RSA-4096",
        True,
    ),
    KeyPairVector(
        "unit",
        "data/kp_rsa4096",
        "private_key_pw_utf8_emoticon.json",
        "public_key_pw_utf8_emoticon.json",
        UNIT_PW_EMOTICON,
        "RSA-4096",
        True,
    ),
    # Lenient-ASN.1 key: must be ACCEPTED (its public half is not in the data set).
    KeyPairVector(
        "unit", "data/kp_general", "private_key_bad_asn1.json", None, UNIT_PW, "A", False
    ),
]

SDKS_WITH_FILES = ("csharp", "js", "swift", "unit")


def key_pair_container(vectors: CryptoVectors, vector: KeyPairVector) -> UserKeyPairContainer:
    return container_from_names(vectors, vector.private_name, vector.public_name)


def container_from_names(
    vectors: CryptoVectors, private_name: str, public_name: str | None
) -> UserKeyPairContainer:
    public = (
        None if public_name is None else PublicKeyContainer.from_json(vectors.json(public_name))
    )
    return UserKeyPairContainer(PrivateKeyContainer.from_json(vectors.json(private_name)), public)


def encrypted_file_key(vectors: CryptoVectors, name: str) -> EncryptedFileKey:
    return EncryptedFileKey.from_json(vectors.json(name))


def plain_file_key(vectors: CryptoVectors, name: str) -> PlainFileKey:
    return PlainFileKey.from_json(vectors.json(name))


def java_mapped(data: dict) -> dict:
    """A Java-SDK mock file key with its enum-name version replaced by the API string."""
    return {**data, "version": JAVA_ENUM_VERSIONS.get(data["version"], data["version"])}
