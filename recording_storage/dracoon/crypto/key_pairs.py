"""User key pairs: the JSON containers, unlocking with the encryption password, generation.

A private key is stored on the server as an encrypted PKCS#8 PEM (PBES2: PBKDF2 + AES-256-CBC).
Unlocking costs one PBKDF2 run of up to 1.3 million iterations (about half a second), so callers
unlock once and keep the ``UserKeyPair`` in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from Crypto import IncorrectPassphraseError, KdfLimitError
from Crypto.IO import PKCS8
from Crypto.PublicKey import RSA
from Crypto.Util.asn1 import DerOctetString, DerSequence

from ._pem import (
    ENCRYPTED_PRIVATE_KEY_LABEL,
    decode_pem,
    export_public_key,
    load_public_key,
)
from .errors import (
    InvalidKeyPairError,
    InvalidPasswordError,
    KeyPairVersionMismatchError,
)
from .versions import KeyPairParameters, key_pair_parameters

# The iteration count comes from the (server-stored) key; bound it so a hostile or broken key
# cannot tie up a CPU for minutes. DRACOON uses 1,300,000 today, legacy keys 10,000.
MAX_KDF_ITERATIONS = 10_000_000

# How new private keys are protected: what the current Java SDK writes, so every DRACOON client
# can open them (HMAC-SHA1 as PRF because not every SDK supports a newer one).
KEY_EXPORT_PROTECTION = "PBKDF2WithHMAC-SHA1AndAES256-CBC"
KEY_EXPORT_ITERATIONS = 1_300_000
KEY_EXPORT_SALT_BYTES = 20
PUBLIC_EXPONENT = 65537
_RSA_ENCRYPTION_OID = "1.2.840.113549.1.1.1"


def _require_str(data: Any, field: str, where: str) -> str:
    if not isinstance(data, dict):
        raise InvalidKeyPairError(f"{where} must be a JSON object")
    value = data.get(field)
    if not isinstance(value, str):
        raise InvalidKeyPairError(f"{where} has no string field {field!r}")
    return value


@dataclass(frozen=True, repr=False)
class PublicKeyContainer:
    """A user's public key as the API carries it (``{"version", "publicKey"}``, PEM)."""

    version: str
    public_key: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PublicKeyContainer:
        return cls(
            version=_require_str(data, "version", "public key container"),
            public_key=_require_str(data, "publicKey", "public key container"),
        )

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "publicKey": self.public_key}

    def __repr__(self) -> str:
        return f"PublicKeyContainer(version={self.version!r}, public_key=<PEM>)"


@dataclass(frozen=True, repr=False)
class PrivateKeyContainer:
    """A user's password-encrypted private key (``{"version", "privateKey"}``, PKCS#8 PEM)."""

    version: str
    private_key: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PrivateKeyContainer:
        return cls(
            version=_require_str(data, "version", "private key container"),
            private_key=_require_str(data, "privateKey", "private key container"),
        )

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "privateKey": self.private_key}

    def __repr__(self) -> str:
        return f"PrivateKeyContainer(version={self.version!r}, private_key=<encrypted PEM>)"


@dataclass(frozen=True)
class UserKeyPairContainer:
    """Both halves of a key pair as stored on the server (still locked).

    ``public_key_container`` may be None when only the private half is at hand; the public key
    is then derived from the private key on unlock.
    """

    private_key_container: PrivateKeyContainer
    public_key_container: PublicKeyContainer | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UserKeyPairContainer:
        if not isinstance(data, dict) or "privateKeyContainer" not in data:
            raise InvalidKeyPairError("user key pair container has no 'privateKeyContainer'")
        public = data.get("publicKeyContainer")
        return cls(
            private_key_container=PrivateKeyContainer.from_json(data["privateKeyContainer"]),
            public_key_container=None if public is None else PublicKeyContainer.from_json(public),
        )

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"privateKeyContainer": self.private_key_container.to_json()}
        if self.public_key_container is not None:
            result["publicKeyContainer"] = self.public_key_container.to_json()
        return result

    @property
    def version(self) -> str:
        return self.private_key_container.version


def _password_encodings(password: str) -> list[bytes]:
    """Byte forms of the password to try, in the Java SDK's order.

    First UTF-8 (what every current client writes). Old JS clients fed one byte per UTF-16 code
    unit (its low 8 bits, i.e. ISO-8859-1 for Latin-1 characters), so that is the fallback; for
    an ASCII password both forms are identical and the second expensive try is skipped.
    """
    try:
        utf8 = password.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates; the codec message would quote the password
        raise InvalidPasswordError("the encryption password is not valid Unicode text") from None
    if password.isascii():
        return [utf8]
    utf16 = password.encode("utf-16-le", errors="surrogatepass")
    return [utf8, bytes(utf16[0::2])]


def _check_encrypted_pkcs8(der: bytes) -> None:
    """Require an ``EncryptedPrivateKeyInfo`` (never accept an unprotected key by accident)."""
    try:
        outer = DerSequence().decode(der, nr_elements=2)
        encrypted = outer.item_types() == [DerSequence, DerOctetString]
    except (ValueError, TypeError, IndexError):
        encrypted = False
    if not encrypted:
        raise InvalidKeyPairError(
            "private key is not a valid encrypted PKCS#8 structure (corrupt DER)"
        )


def _decrypt_private_key(der: bytes, password: str) -> RSA.RsaKey:
    for candidate in _password_encodings(password):
        try:
            algorithm, key_der, _params = PKCS8.unwrap(
                der, candidate, max_iteration_count=MAX_KDF_ITERATIONS
            )
        except IncorrectPassphraseError:
            continue
        except KdfLimitError:
            raise InvalidKeyPairError(
                f"private key demands more than {MAX_KDF_ITERATIONS:,} PBKDF2 iterations; "
                "refusing to derive (corrupt or hostile key)"
            ) from None
        except (ValueError, TypeError, IndexError):
            raise InvalidKeyPairError(
                "private key cannot be decoded: unsupported or corrupt PBES2 parameters"
            ) from None
        if algorithm != _RSA_ENCRYPTION_OID:
            raise InvalidKeyPairError("private key is not an RSA key (wrong PKCS#8 algorithm)")
        try:
            # Accepts the legacy non-minimal INTEGER encoding (private_key_bad_asn1 vector);
            # the key is rebuilt from n, e, d, p, q with pycryptodome's consistency checks.
            key = RSA.import_key(key_der)
        except (ValueError, TypeError, IndexError):
            raise InvalidKeyPairError(
                "private key decrypted but is not a valid RSA private key (corrupt DER)"
            ) from None
        if not key.has_private():
            raise InvalidKeyPairError("private key container holds no private key")
        return key
    raise InvalidPasswordError(
        "the encryption password does not open the private key; check the configured "
        "encryption password"
    )


def _check_modulus(key: RSA.RsaKey, params: KeyPairParameters, what: str) -> None:
    bits = key.size_in_bits()
    if bits != params.modulus_bits:
        raise InvalidKeyPairError(
            f"{what} is RSA-{bits}, but version {params.version!r} requires "
            f"RSA-{params.modulus_bits}"
        )


class UserKeyPair:
    """An unlocked key pair held in memory. Never printed, never pickled."""

    __slots__ = ("_private_key", "private_key_container", "public_key_container", "version")

    def __init__(
        self,
        version: str,
        private_key: RSA.RsaKey,
        private_key_container: PrivateKeyContainer,
        public_key_container: PublicKeyContainer,
    ) -> None:
        self.version = version
        self._private_key = private_key
        self.private_key_container = private_key_container
        self.public_key_container = public_key_container

    @classmethod
    def unlock(cls, container: UserKeyPairContainer, password: str) -> UserKeyPair:
        """Decrypt and validate a key pair.

        Checks (cheap ones first, before the expensive key derivation): both versions known and
        equal, public key well-formed and of the version's size, password non-empty; then the
        private key opens (UTF-8, then 8-bit password bytes), has the right size and matches the
        public key. Raises UnknownVersionError, KeyPairVersionMismatchError, InvalidKeyPairError
        or InvalidPasswordError.
        """
        private_container = container.private_key_container
        public_container = container.public_key_container
        params = key_pair_parameters(private_container.version)
        public_key = None
        if public_container is not None:
            key_pair_parameters(public_container.version)
            if public_container.version != private_container.version:
                raise KeyPairVersionMismatchError(
                    f"private key version {private_container.version!r} and public key version "
                    f"{public_container.version!r} differ; the key pair is inconsistent"
                )
            public_key = load_public_key(public_container.public_key)
            _check_modulus(public_key, params, "public key")
        if not isinstance(password, str) or not password:
            raise InvalidPasswordError("the encryption password is empty")
        der = decode_pem(private_container.private_key, ENCRYPTED_PRIVATE_KEY_LABEL, "private key")
        _check_encrypted_pkcs8(der)
        private_key = _decrypt_private_key(der, password)
        _check_modulus(private_key, params, "private key")
        if public_container is None:
            public_container = PublicKeyContainer(params.version, export_public_key(private_key))
        elif public_key is not None and (public_key.n, public_key.e) != (
            private_key.n,
            private_key.e,
        ):
            raise InvalidKeyPairError(
                "public key does not belong to the private key (different RSA modulus or exponent)"
            )
        return cls(params.version, private_key, private_container, public_container)

    @property
    def modulus_bits(self) -> int:
        return self._private_key.size_in_bits()

    def __repr__(self) -> str:
        return f"UserKeyPair(version={self.version!r}, unlocked, RSA-{self.modulus_bits})"

    def __getstate__(self) -> None:
        raise TypeError("an unlocked UserKeyPair is not picklable; unlock it in each process")


def generate_user_key_pair(version: str, password: str) -> UserKeyPairContainer:
    """Create a new key pair whose private key is protected like the current Java SDK does it.

    RSA-2048 ("A") or RSA-4096, e = 65537; private key as encrypted PKCS#8 with PBKDF2-HMAC-SHA1,
    1,300,000 iterations, 20-byte salt, AES-256-CBC, password as UTF-8. Takes about a second
    for RSA-4096 (prime search plus the key derivation).
    """
    params = key_pair_parameters(version)
    if not isinstance(password, str) or not password:
        raise InvalidPasswordError("cannot protect a new private key with an empty password")
    key = RSA.generate(params.modulus_bits, e=PUBLIC_EXPONENT)
    private_pem = key.export_key(
        format="PEM",
        pkcs=8,
        passphrase=password.encode("utf-8"),
        protection=KEY_EXPORT_PROTECTION,
        prot_params={
            "iteration_count": KEY_EXPORT_ITERATIONS,
            "salt_size": KEY_EXPORT_SALT_BYTES,
        },
    ).decode("ascii")
    return UserKeyPairContainer(
        private_key_container=PrivateKeyContainer(params.version, private_pem),
        public_key_container=PublicKeyContainer(params.version, export_public_key(key)),
    )
