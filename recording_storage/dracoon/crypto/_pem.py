"""PEM/DER helpers with the label checks pycryptodome leaves to the caller.

``RSA.import_key`` ignores the PEM label (it happily opens an encrypted key labelled
``PUBLIC KEY``), so every PEM is decoded here first and its label compared exactly.
"""

from __future__ import annotations

from Crypto.IO import PEM
from Crypto.PublicKey import RSA

from .errors import InvalidKeyPairError

ENCRYPTED_PRIVATE_KEY_LABEL = "ENCRYPTED PRIVATE KEY"
PUBLIC_KEY_LABEL = "PUBLIC KEY"


def decode_pem(pem: object, expected_label: str, what: str) -> bytes:
    """Return the DER inside ``pem`` if it is a well-formed PEM with exactly ``expected_label``."""
    if not isinstance(pem, str) or not pem.strip():
        raise InvalidKeyPairError(f"{what} is missing or not a PEM text")
    try:
        der, label, encrypted_header = PEM.decode(pem, None)
    except (ValueError, TypeError, IndexError):
        raise InvalidKeyPairError(
            f"{what} is not a valid PEM block (broken BEGIN/END lines or base64)"
        ) from None
    if label != expected_label:
        raise InvalidKeyPairError(
            f"{what} has PEM label {label[:40]!r}, expected {expected_label!r}"
        )
    if encrypted_header:
        raise InvalidKeyPairError(f"{what} uses legacy PEM encryption headers, not PKCS#8")
    return der


def load_public_key(pem: object, what: str = "public key") -> RSA.RsaKey:
    """Parse a ``PUBLIC KEY`` PEM (X.509 SubjectPublicKeyInfo) into an RSA public key."""
    der = decode_pem(pem, PUBLIC_KEY_LABEL, what)
    try:
        key = RSA.import_key(der)
    except (ValueError, TypeError, IndexError):
        raise InvalidKeyPairError(f"{what} is not a valid RSA public key (corrupt DER)") from None
    if key.has_private():
        raise InvalidKeyPairError(f"{what} contains private key material; expected a public key")
    return key


def export_public_key(key: RSA.RsaKey) -> str:
    """The ``PUBLIC KEY`` PEM of ``key`` as DRACOON stores it."""
    return key.public_key().export_key(format="PEM").decode("ascii")
