"""Typed errors of the DRACOON crypto layer.

Callers react differently to each failure (ask for another password, report a corrupt key,
treat a download as tampered), so every failure has its own class. Messages say what failed and
what to do, and never contain passwords, key bytes or decrypted data: they end up in logs.
"""


class CryptoError(Exception):
    """Base class of every error raised by ``recording_storage.dracoon.crypto``."""


class UnknownVersionError(CryptoError):
    """A key pair or file key carries a version string this module does not know."""


class VersionMismatchError(CryptoError):
    """Two versions that must go together do not (file key vs key pair, private vs public)."""


class InvalidKeyPairError(CryptoError):
    """A key pair container is malformed, corrupt, of the wrong size or inconsistent."""


class KeyPairVersionMismatchError(VersionMismatchError, InvalidKeyPairError):
    """Private and public key container of one key pair carry different versions.

    It is both a version mismatch and an invalid key pair, so either ``except`` catches it.
    """


class InvalidPasswordError(CryptoError):
    """The encryption password is empty or does not open the private key."""


class InvalidFileKeyError(CryptoError):
    """A file key is malformed (sizes, base64) or cannot be decrypted with the key pair."""


class TagMismatchError(CryptoError):
    """The GCM tag check failed: the file, its IV/tag or its key was modified or mixed up."""
