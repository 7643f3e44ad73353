"""File keys: the per-file AES-256-GCM key, and its RSA-OAEP-wrapped form for each user.

Only the 32 key bytes are RSA-encrypted; IV and tag travel in clear next to them. The OAEP
parameters depend on the key pair version (``versions.py``) and are always passed explicitly:
pycryptodome would otherwise take the MGF1 hash from the OAEP hash, which is wrong for "A".
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, overload

from Crypto.Cipher import PKCS1_OAEP
from Crypto.PublicKey import RSA
from Crypto.Random import get_random_bytes

from ._pem import load_public_key
from .errors import (
    InvalidFileKeyError,
    InvalidKeyPairError,
    UnknownVersionError,
    VersionMismatchError,
)
from .key_pairs import PublicKeyContainer, UserKeyPair
from .versions import (
    PLAIN_FILE_KEY_VERSIONS,
    KeyPairParameters,
    key_pair_parameters,
    parameters_for_file_key,
)

KEY_BYTES = 32
IV_BYTES = 12
TAG_BYTES = 16


@overload
def _check_bytes(value: Any, size: int, field: str) -> bytes: ...
@overload
def _check_bytes(value: Any, size: int, field: str, *, optional: bool) -> bytes | None: ...
def _check_bytes(value: Any, size: int, field: str, *, optional: bool = False) -> bytes | None:
    if value is None and optional:
        return None
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidFileKeyError(f"file key {field} must be bytes")
    checked = bytes(value)
    if len(checked) != size:
        raise InvalidFileKeyError(f"file key {field} has {len(checked)} bytes, expected {size}")
    return checked


@overload
def _b64decode(data: Any, field: str) -> bytes: ...
@overload
def _b64decode(data: Any, field: str, *, optional: bool) -> bytes | None: ...
def _b64decode(data: Any, field: str, *, optional: bool = False) -> bytes | None:
    value = data.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidFileKeyError(f"file key JSON has no string field {field!r}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidFileKeyError(f"file key {field} is not valid standard base64") from None


def _b64encode(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _size(value: bytes | None) -> str:
    return "None" if value is None else f"<{len(value)} bytes>"


@dataclass(eq=True, repr=False)
class PlainFileKey:
    """The decrypted AES-256-GCM key of one file (local only, never sent).

    ``tag`` is None until the file has been encrypted (``FileEncrypter.finalize``).
    """

    key: bytes
    iv: bytes
    tag: bytes | None = None

    def __post_init__(self) -> None:
        self.key = _check_bytes(self.key, KEY_BYTES, "key")
        self.iv = _check_bytes(self.iv, IV_BYTES, "iv")
        self.tag = _check_bytes(self.tag, TAG_BYTES, "tag", optional=True)

    @classmethod
    def generate(cls) -> PlainFileKey:
        """A fresh random key and IV. Use a new one for every upload, never reuse."""
        return cls(key=get_random_bytes(KEY_BYTES), iv=get_random_bytes(IV_BYTES))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlainFileKey:
        """Read a plain file key (version "A" as Java writes it, or "AES-256-GCM")."""
        if not isinstance(data, dict):
            raise InvalidFileKeyError("plain file key must be a JSON object")
        version = data.get("version")
        if version not in PLAIN_FILE_KEY_VERSIONS:
            raise UnknownVersionError(
                f"unknown plain file key version {str(version)[:40]!r}; "
                f"supported: {', '.join(PLAIN_FILE_KEY_VERSIONS)}"
            )
        return cls(
            key=_b64decode(data, "key"),
            iv=_b64decode(data, "iv"),
            tag=_b64decode(data, "tag", optional=True),
        )

    def to_json(self) -> dict[str, Any]:
        """Java-style plain file key JSON (version "A"); for local use and tests only."""
        result = {"version": "A", "key": _b64encode(self.key), "iv": _b64encode(self.iv)}
        if self.tag is not None:
            result["tag"] = _b64encode(self.tag)
        return result

    def __repr__(self) -> str:
        return f"PlainFileKey(key=<redacted>, iv={_size(self.iv)}, tag={_size(self.tag)})"


@dataclass(frozen=True, repr=False)
class EncryptedFileKey:
    """A file key wrapped for one user key pair, as the API carries it."""

    version: str
    key: bytes
    iv: bytes
    tag: bytes | None = None

    def __post_init__(self) -> None:
        parameters_for_file_key(self.version)  # UnknownVersionError
        if not isinstance(self.key, bytes) or not self.key:
            raise InvalidFileKeyError("encrypted file key has no RSA ciphertext")
        _check_bytes(self.iv, IV_BYTES, "iv")
        _check_bytes(self.tag, TAG_BYTES, "tag", optional=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EncryptedFileKey:
        """Parse ``{"version","key","iv","tag"}``; a missing or null tag becomes None."""
        if not isinstance(data, dict):
            raise InvalidFileKeyError("encrypted file key must be a JSON object")
        version = data.get("version")
        if not isinstance(version, str):
            raise InvalidFileKeyError("encrypted file key JSON has no string field 'version'")
        parameters_for_file_key(version)  # unknown versions first, before decoding anything
        return cls(
            version=version,
            key=_b64decode(data, "key"),
            iv=_b64decode(data, "iv"),
            tag=_b64decode(data, "tag", optional=True),
        )

    def to_json(self) -> dict[str, Any]:
        """API JSON, standard padded base64; ``tag`` is left out when there is none."""
        result = {"version": self.version, "key": _b64encode(self.key), "iv": _b64encode(self.iv)}
        if self.tag is not None:
            result["tag"] = _b64encode(self.tag)
        return result

    def __repr__(self) -> str:
        return (
            f"EncryptedFileKey(version={self.version!r}, key={_size(self.key)}, "
            f"iv={_size(self.iv)}, tag={_size(self.tag)})"
        )


@functools.lru_cache(maxsize=4)
def _mgf1(hash_module: ModuleType) -> Callable[[bytes, int], bytes]:
    """MGF1 (RFC 8017, B.2.1) with ``hash_module`` (``Crypto.Hash.SHA1``/``SHA256``) computed by
    hashlib: the same mask as ``Crypto.Signature.pss.MGF1``, without a pycryptodome hash object
    per block -- an RSA-4096 wrap needs 16 of them, which cost more CPU than the RSA operation
    (every upload wraps the file key twice: for us and for the room's reader)."""
    name = hash_module.__name__.rpartition(".")[2].lower()  # "sha1", "sha256"
    seeded = hashlib.new(name)
    if seeded.digest_size != hash_module.digest_size:
        raise AssertionError(f"hashlib {name} is not {hash_module.__name__}")
    size = seeded.digest_size

    def mask(seed: bytes, length: int) -> bytes:
        prefix = hashlib.new(name, seed)
        blocks = []
        for counter in range(-(-length // size)):
            block = prefix.copy()
            block.update(counter.to_bytes(4, "big"))
            blocks.append(block.digest())
        return b"".join(blocks)[:length]

    return mask


def _oaep(key: RSA.RsaKey, params: KeyPairParameters) -> Any:
    return PKCS1_OAEP.new(key, hashAlgo=params.oaep_hash, mgfunc=_mgf1(params.mgf1_hash))


@functools.lru_cache(maxsize=256)
def _public_key(container: PublicKeyContainer) -> tuple[RSA.RsaKey, KeyPairParameters]:
    """Parse and check a public key once; key distribution wraps many keys for the same users."""
    params = key_pair_parameters(container.version)
    key = load_public_key(container.public_key)
    if key.size_in_bits() != params.modulus_bits:
        raise InvalidKeyPairError(
            f"public key is RSA-{key.size_in_bits()}, but version {params.version!r} requires "
            f"RSA-{params.modulus_bits}"
        )
    return key, params


def encrypt_file_key(plain: PlainFileKey, public_key: PublicKeyContainer) -> EncryptedFileKey:
    """Wrap the file key for one user's public key; version follows the public key's version.

    Raises UnknownVersionError or InvalidKeyPairError (bad public key).
    """
    key, params = _public_key(public_key)
    wrapped = _oaep(key, params).encrypt(plain.key)
    return EncryptedFileKey(params.file_key_version, wrapped, plain.iv, plain.tag)


def decrypt_file_key(encrypted: EncryptedFileKey, key_pair: UserKeyPair) -> PlainFileKey:
    """Unwrap a file key with an unlocked key pair.

    Version checks come first (UnknownVersionError, VersionMismatchError) so no RSA work is
    wasted on a key that cannot fit; a failed OAEP decryption is InvalidFileKeyError.
    """
    file_params = parameters_for_file_key(encrypted.version)
    params = key_pair_parameters(key_pair.version)
    if file_params is not params:
        raise VersionMismatchError(
            f"file key version {encrypted.version!r} cannot be decrypted with a key pair of "
            f"version {key_pair.version!r} (needs key pair version {file_params.version!r})"
        )
    try:
        key = _oaep(key_pair._private_key, params).decrypt(encrypted.key)
    except (ValueError, TypeError):
        raise InvalidFileKeyError(
            "file key cannot be decrypted with this key pair (RSA-OAEP failed): the file key "
            "was made for another key pair or is corrupt"
        ) from None
    if len(key) != KEY_BYTES:
        raise InvalidFileKeyError(
            f"decrypted file key has {len(key)} bytes, expected {KEY_BYTES}; "
            "the file key is corrupt"
        )
    return PlainFileKey(key=key, iv=encrypted.iv, tag=encrypted.tag)
