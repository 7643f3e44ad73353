"""Reading DRACOON's official crypto vectors (``../shared/testdata/dracoon-crypto``).

The vectors stay where they are (never copied into the project); these helpers only turn their
files into this package's objects. Which password opens which key follows the vectors' README.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from recording_storage.dracoon.crypto import (
    EncryptedFileKey,
    PlainFileKey,
    PrivateKeyContainer,
    PublicKeyContainer,
    UserKeyPairContainer,
)

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
    password_file: str  # relative to the vectors root
    version: str
    slow_kdf: bool  # 1,300,000 PBKDF2 iterations

    @property
    def id(self) -> str:
        return f"{self.sdk}/{self.folder}/{self.private_file}"


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


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def read_text(root: Path, relative: str) -> str:
    """Password files have no trailing newline; the whole content is the password."""
    return (root / relative).read_text(encoding="utf-8")


def read_b64(path: Path) -> bytes:
    return base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)


def key_pair_container(root: Path, vector: KeyPairVector) -> UserKeyPairContainer:
    folder = root / vector.sdk / vector.folder
    public = None
    if vector.public_file is not None:
        public = PublicKeyContainer.from_json(read_json(folder / vector.public_file))
    return UserKeyPairContainer(
        PrivateKeyContainer.from_json(read_json(folder / vector.private_file)), public
    )


def container_from_files(private_path: Path, public_path: Path | None) -> UserKeyPairContainer:
    public = None if public_path is None else PublicKeyContainer.from_json(read_json(public_path))
    return UserKeyPairContainer(PrivateKeyContainer.from_json(read_json(private_path)), public)


def encrypted_file_key(path: Path) -> EncryptedFileKey:
    return EncryptedFileKey.from_json(read_json(path))


def plain_file_key(path: Path) -> PlainFileKey:
    return PlainFileKey.from_json(read_json(path))


def java_mapped(data: dict) -> dict:
    """A Java-SDK mock file key with its enum-name version replaced by the API string."""
    return {**data, "version": JAVA_ENUM_VERSIONS.get(data["version"], data["version"])}
