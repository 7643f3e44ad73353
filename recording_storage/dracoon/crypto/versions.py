"""DRACOON version strings and what each one means.

The version string decides the RSA modulus size and the RSA-OAEP parameters. The mapping follows
DRACOON's Java crypto SDK (the reference): key pair "A" is RSA-2048 with OAEP SHA-256 and
MGF1-SHA-1 (mixed on purpose, legacy); "RSA-4096" uses SHA-256 for both. Other SDKs differ (the
official Python SDK swaps the "A" hashes and cannot read other clients' "A" file keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from Crypto.Hash import SHA1, SHA256

from .errors import UnknownVersionError

KEY_PAIR_A = "A"
KEY_PAIR_RSA4096 = "RSA-4096"
FILE_KEY_A = "A"
FILE_KEY_RSA4096 = "RSA-4096/AES-256-GCM"

# Plain (decrypted) file keys never travel; the Java SDK labels them "A", the Python SDK
# "AES-256-GCM". Both are accepted when reading one from JSON.
PLAIN_FILE_KEY_VERSIONS = ("A", "AES-256-GCM")


@dataclass(frozen=True)
class KeyPairParameters:
    """Everything that differs between the two key pair versions."""

    version: str
    file_key_version: str
    modulus_bits: int
    oaep_hash: ModuleType
    mgf1_hash: ModuleType


_KEY_PAIRS = {
    KEY_PAIR_A: KeyPairParameters(KEY_PAIR_A, FILE_KEY_A, 2048, SHA256, SHA1),
    KEY_PAIR_RSA4096: KeyPairParameters(KEY_PAIR_RSA4096, FILE_KEY_RSA4096, 4096, SHA256, SHA256),
}
_BY_FILE_KEY_VERSION = {p.file_key_version: p for p in _KEY_PAIRS.values()}


def _describe(version: object) -> str:
    """A short, safe rendering of an untrusted version value for error messages."""
    text = repr(version)
    return text if len(text) <= 40 else text[:37] + "..."


def key_pair_parameters(version: str) -> KeyPairParameters:
    """Parameters of a key pair version; ``UnknownVersionError`` for anything else."""
    try:
        return _KEY_PAIRS[version]
    except (KeyError, TypeError):
        raise UnknownVersionError(
            f"unknown user key pair version {_describe(version)}; "
            f"supported: {', '.join(_KEY_PAIRS)}"
        ) from None


def parameters_for_file_key(file_key_version: str) -> KeyPairParameters:
    """Parameters of the key pair version an encrypted file key version belongs to."""
    try:
        return _BY_FILE_KEY_VERSION[file_key_version]
    except (KeyError, TypeError):
        raise UnknownVersionError(
            f"unknown encrypted file key version {_describe(file_key_version)}; "
            f"supported: {', '.join(_BY_FILE_KEY_VERSION)}"
        ) from None


def file_key_version_for(key_pair_version: str) -> str:
    """The encrypted-file-key version that goes with a key pair version ("A" -> "A",
    "RSA-4096" -> "RSA-4096/AES-256-GCM"); raises ``UnknownVersionError``."""
    return key_pair_parameters(key_pair_version).file_key_version
