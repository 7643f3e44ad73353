"""DRACOON client-side encryption ("triple-crypto"), byte-compatible with DRACOON's SDKs.

Three layers: a user key pair (RSA, private key password-protected), a random AES-256-GCM file
key per file, and that file key RSA-OAEP-wrapped for every user who may read the file. See
docs/crypto.md for formats and pitfalls.
"""

from .errors import (
    CryptoError,
    InvalidFileKeyError,
    InvalidKeyPairError,
    InvalidPasswordError,
    TagMismatchError,
    UnknownVersionError,
    VersionMismatchError,
)
from .file_keys import EncryptedFileKey, PlainFileKey, decrypt_file_key, encrypt_file_key
from .key_pairs import (
    PrivateKeyContainer,
    PublicKeyContainer,
    UserKeyPair,
    UserKeyPairContainer,
    generate_user_key_pair,
)
from .streams import DecryptingWriter, EncryptingReader, FileDecrypter, FileEncrypter
from .versions import (
    FILE_KEY_A,
    FILE_KEY_RSA4096,
    KEY_PAIR_A,
    KEY_PAIR_RSA4096,
    file_key_version_for,
)

__all__ = [
    "FILE_KEY_A",
    "FILE_KEY_RSA4096",
    "KEY_PAIR_A",
    "KEY_PAIR_RSA4096",
    "CryptoError",
    "DecryptingWriter",
    "EncryptedFileKey",
    "EncryptingReader",
    "FileDecrypter",
    "FileEncrypter",
    "InvalidFileKeyError",
    "InvalidKeyPairError",
    "InvalidPasswordError",
    "PlainFileKey",
    "PrivateKeyContainer",
    "PublicKeyContainer",
    "TagMismatchError",
    "UnknownVersionError",
    "UserKeyPair",
    "UserKeyPairContainer",
    "VersionMismatchError",
    "decrypt_file_key",
    "encrypt_file_key",
    "file_key_version_for",
    "generate_user_key_pair",
]
