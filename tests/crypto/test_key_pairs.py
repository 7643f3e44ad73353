"""Key pairs: generation in the Java SDK's format, unlocking rules and validation."""

from __future__ import annotations

import pickle

import pytest
from Crypto import IncorrectPassphraseError
from Crypto.IO import PEM, PKCS8
from Crypto.PublicKey import RSA
from Crypto.Util.asn1 import DerObjectId, DerOctetString, DerSequence

from recording_storage.dracoon.crypto import (
    InvalidKeyPairError,
    InvalidPasswordError,
    PlainFileKey,
    PrivateKeyContainer,
    PublicKeyContainer,
    UnknownVersionError,
    UserKeyPair,
    UserKeyPairContainer,
    VersionMismatchError,
    decrypt_file_key,
    encrypt_file_key,
    generate_user_key_pair,
)
from recording_storage.dracoon.crypto import key_pairs as key_pairs_module
from recording_storage.dracoon.crypto.errors import KeyPairVersionMismatchError

# One xdist worker runs this module's tests (scripts/test.sh: --dist loadgroup):
# its freshly generated key pairs (module fixture) are made once, not on every worker.
pytestmark = pytest.mark.xdist_group("key_pairs")

PBES2_OID = "1.2.840.113549.1.5.13"
PBKDF2_OID = "1.2.840.113549.1.5.12"
AES256_CBC_OID = "2.16.840.1.101.3.4.1.42"
NON_ASCII_PASSWORD = "Pässwort-ß-🐛"


# --- generation ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated():
    """One freshly generated key pair per version (RSA-4096 takes ~1-2 s), unlocked once."""
    result = {}
    for version, password in (("A", "ascii-Password-1"), ("RSA-4096", NON_ASCII_PASSWORD)):
        container = generate_user_key_pair(version, password)
        result[version] = (container, password, UserKeyPair.unlock(container, password))
    return result


def _pbes2_parameters(private_pem: str) -> dict:
    der, label, _ = PEM.decode(private_pem, None)
    assert label == "ENCRYPTED PRIVATE KEY"
    outer = DerSequence().decode(der, nr_elements=2)
    algorithm = DerSequence().decode(outer[0])
    assert DerObjectId().decode(algorithm[0]).value == PBES2_OID
    params = DerSequence().decode(algorithm[1])
    kdf = DerSequence().decode(params[0])
    assert DerObjectId().decode(kdf[0]).value == PBKDF2_OID
    kdf_params = DerSequence().decode(kdf[1])
    cipher = DerSequence().decode(params[1])
    return {
        "salt": DerOctetString().decode(kdf_params[0]).payload,
        "iterations": kdf_params[1],
        "kdf_extra_fields": len(kdf_params) - 2,  # keyLength / prf: Java writes neither
        "cipher": DerObjectId().decode(cipher[0]).value,
        "iv": DerOctetString().decode(cipher[1]).payload,
    }


@pytest.mark.slow
@pytest.mark.parametrize(("version", "bits"), [("A", 2048), ("RSA-4096", 4096)])
def test_generated_key_pair_format(generated, version, bits):
    container, _password, key_pair = generated[version]
    assert container.private_key_container.version == version
    assert container.public_key_container.version == version
    assert key_pair.modulus_bits == bits

    public = RSA.import_key(container.public_key_container.public_key)
    assert public.e == 65537 and public.size_in_bits() == bits
    assert container.public_key_container.public_key.startswith("-----BEGIN PUBLIC KEY-----\n")

    private_pem = container.private_key_container.private_key
    assert "\r" not in private_pem
    body = [line for line in private_pem.splitlines() if not line.startswith("-----")]
    assert all(len(line) == 64 for line in body[:-1]) and 0 < len(body[-1]) <= 64

    params = _pbes2_parameters(private_pem)
    assert params["iterations"] == 1_300_000
    assert len(params["salt"]) == 20
    assert params["kdf_extra_fields"] == 0  # PRF omitted = HMAC-SHA1 default, no keyLength
    assert params["cipher"] == AES256_CBC_OID
    assert len(params["iv"]) == 16


@pytest.mark.slow
def test_generated_private_key_written_with_utf8_password(generated):
    container, password, _ = generated["RSA-4096"]
    der = PEM.decode(container.private_key_container.private_key, None)[0]
    algorithm, _, _ = PKCS8.unwrap(der, password.encode("utf-8"))
    assert algorithm == "1.2.840.113549.1.1.1"
    with pytest.raises(IncorrectPassphraseError):
        PKCS8.unwrap(der, password.encode("utf-16-le")[0::2])


@pytest.mark.slow
def test_generated_key_pairs_round_trip_json_and_file_keys(generated):
    for version, (container, password, key_pair) in generated.items():
        again = UserKeyPairContainer.from_json(container.to_json())
        assert again == container
        assert key_pair.public_key_container == container.public_key_container
        plain = PlainFileKey.generate()
        wrapped = encrypt_file_key(plain, container.public_key_container)
        assert wrapped.version == ("A" if version == "A" else "RSA-4096/AES-256-GCM")
        assert decrypt_file_key(wrapped, key_pair) == plain
        with pytest.raises(InvalidPasswordError):
            UserKeyPair.unlock(container, password + "x")


def test_generate_rejects_unknown_version_and_empty_password(monkeypatch):
    monkeypatch.setattr(
        key_pairs_module.RSA, "generate", lambda *a, **k: pytest.fail("keygen started")
    )
    with pytest.raises(UnknownVersionError):
        generate_user_key_pair("RSA-8192", "pw")
    with pytest.raises(InvalidPasswordError):
        generate_user_key_pair("RSA-4096", "")


# --- unlocking: fabricated keys (fast: re-exported vector keys with few iterations) ----------


def _export(key: RSA.RsaKey, password: bytes, *, iterations=1000, protection=None) -> str:
    return key.export_key(
        format="PEM",
        pkcs=8,
        passphrase=password,
        protection=protection or "PBKDF2WithHMAC-SHA1AndAES256-CBC",
        prot_params={"iteration_count": iterations, "salt_size": 20},
    ).decode("ascii")


def _container(version: str, private_pem: str, public_pem: str | None) -> UserKeyPairContainer:
    public = None if public_pem is None else PublicKeyContainer(version, public_pem)
    return UserKeyPairContainer(PrivateKeyContainer(version, private_pem), public)


@pytest.fixture(scope="module")
def rsa_keys(unit_key_pairs):
    """The unit vectors' RSA objects, to build variants of them cheaply."""
    return {version: kp._private_key for version, kp in unit_key_pairs.items()}


def _public_pem(key: RSA.RsaKey) -> str:
    return key.public_key().export_key(format="PEM").decode("ascii")


def test_eight_bit_password_fallback(rsa_keys):
    password = "Qwer1234!ä"
    pem = _export(rsa_keys["A"], password.encode("latin-1"))
    key_pair = UserKeyPair.unlock(_container("A", pem, _public_pem(rsa_keys["A"])), password)
    assert key_pair.version == "A"


def test_utf8_is_tried_first(rsa_keys, monkeypatch):
    tried = []
    real_unwrap = PKCS8.unwrap

    def spy(der, passphrase, *args, **kwargs):
        tried.append(passphrase)
        return real_unwrap(der, passphrase, *args, **kwargs)

    monkeypatch.setattr(key_pairs_module.PKCS8, "unwrap", spy)
    password = "Qwer1234!ä🐛"
    pem = _export(rsa_keys["A"], password.encode("utf-8"))
    UserKeyPair.unlock(_container("A", pem, None), password)
    assert tried == [password.encode("utf-8")]


def test_ascii_password_tried_once_non_ascii_twice(rsa_keys, monkeypatch):
    calls = []
    real_unwrap = PKCS8.unwrap

    def spy(der, passphrase, *args, **kwargs):
        calls.append(passphrase)
        return real_unwrap(der, passphrase, *args, **kwargs)

    monkeypatch.setattr(key_pairs_module.PKCS8, "unwrap", spy)
    container = _container("A", _export(rsa_keys["A"], b"right"), None)
    with pytest.raises(InvalidPasswordError):
        UserKeyPair.unlock(container, "wrong")
    assert calls == [b"wrong"]
    calls.clear()
    with pytest.raises(InvalidPasswordError):
        UserKeyPair.unlock(container, "wröng")
    assert calls == ["wröng".encode(), b"wr\xf6ng"]


@pytest.mark.parametrize("password", ["", None, 12345])
def test_empty_or_non_text_password_is_invalid_without_kdf(rsa_keys, monkeypatch, password):
    monkeypatch.setattr(
        key_pairs_module.PKCS8, "unwrap", lambda *a, **k: pytest.fail("key derivation started")
    )
    container = _container("A", _export(rsa_keys["A"], b"pw"), None)
    with pytest.raises(InvalidPasswordError):
        UserKeyPair.unlock(container, password)


def test_password_with_lone_surrogate_is_invalid(rsa_keys):
    container = _container("A", _export(rsa_keys["A"], b"pw"), None)
    with pytest.raises(InvalidPasswordError) as raised:
        UserKeyPair.unlock(container, "secret\ud800")
    assert "secret" not in str(raised.value)


def test_iteration_count_is_bounded(rsa_keys, monkeypatch):
    monkeypatch.setattr(key_pairs_module, "MAX_KDF_ITERATIONS", 999)
    container = _container("A", _export(rsa_keys["A"], b"pw", iterations=1000), None)
    with pytest.raises(InvalidKeyPairError, match="iterations"):
        UserKeyPair.unlock(container, "pw")


def test_python_sdk_layout_hmac_sha256_opens(rsa_keys):
    pem = _export(
        rsa_keys["RSA-4096"],
        b"pw",
        iterations=2048,
        protection="PBKDF2WithHMAC-SHA256AndAES256-CBC",
    )
    key_pair = UserKeyPair.unlock(_container("RSA-4096", pem, None), "pw")
    assert key_pair.modulus_bits == 4096


def test_crlf_and_lf_pems_both_open(rsa_keys):
    pem = _export(rsa_keys["A"], b"pw")
    public = _public_pem(rsa_keys["A"])
    for convert in (lambda s: s, lambda s: s.replace("\n", "\r\n")):
        UserKeyPair.unlock(_container("A", convert(pem), convert(public)), "pw")


def test_unencrypted_key_with_encrypted_label_is_rejected(rsa_keys):
    plain_pkcs8 = rsa_keys["A"].export_key(format="PEM", pkcs=8).decode("ascii")
    relabelled = plain_pkcs8.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
    with pytest.raises(InvalidKeyPairError):
        UserKeyPair.unlock(_container("A", relabelled, None), "pw")
    with pytest.raises(InvalidKeyPairError):  # and as is: wrong label
        UserKeyPair.unlock(_container("A", plain_pkcs8, None), "pw")


def test_private_key_in_public_container_is_rejected(rsa_keys):
    pem = _export(rsa_keys["A"], b"pw")
    relabelled = pem.replace("ENCRYPTED PRIVATE KEY", "PUBLIC KEY")
    with pytest.raises(InvalidKeyPairError):
        UserKeyPair.unlock(_container("A", pem, relabelled), "pw")
    unencrypted = rsa_keys["A"].export_key(format="PEM", pkcs=8).decode("ascii")
    with pytest.raises(InvalidKeyPairError):
        UserKeyPair.unlock(
            _container("A", pem, unencrypted.replace("PRIVATE KEY", "PUBLIC KEY")), "pw"
        )


def test_public_key_of_another_pair_is_rejected(rsa_keys, crypto_vectors):
    other = crypto_vectors.json("js/data/kp_rsa2048/public_key.json")
    other_pem = PublicKeyContainer.from_json(other).public_key
    pem = _export(rsa_keys["A"], b"pw")
    with pytest.raises(InvalidKeyPairError, match="does not belong"):
        UserKeyPair.unlock(_container("A", pem, other_pem), "pw")


def test_modulus_size_must_match_version(rsa_keys):
    big = rsa_keys["RSA-4096"]
    pem = _export(big, b"pw")
    with pytest.raises(InvalidKeyPairError, match="RSA-4096"):
        UserKeyPair.unlock(_container("A", pem, _public_pem(big)), "pw")
    with pytest.raises(InvalidKeyPairError):  # also without a public key
        UserKeyPair.unlock(_container("A", pem, None), "pw")
    small = _export(rsa_keys["A"], b"pw")
    with pytest.raises(InvalidKeyPairError):
        UserKeyPair.unlock(_container("RSA-4096", small, None), "pw")


def test_private_and_public_versions_must_be_equal(rsa_keys):
    container = UserKeyPairContainer(
        PrivateKeyContainer("A", _export(rsa_keys["A"], b"pw")),
        PublicKeyContainer("RSA-4096", _public_pem(rsa_keys["RSA-4096"])),
    )
    with pytest.raises(KeyPairVersionMismatchError) as raised:
        UserKeyPair.unlock(container, "pw")
    assert isinstance(raised.value, VersionMismatchError)
    assert isinstance(raised.value, InvalidKeyPairError)


def test_public_key_derived_when_missing(rsa_keys):
    key_pair = UserKeyPair.unlock(_container("A", _export(rsa_keys["A"], b"pw"), None), "pw")
    assert RSA.import_key(key_pair.public_key_container.public_key) == rsa_keys["A"].public_key()


def test_unlocked_key_pair_is_not_picklable(unit_key_pairs):
    with pytest.raises(TypeError):
        pickle.dumps(unit_key_pairs["A"])


# --- JSON containers ------------------------------------------------------------------------


def test_container_json_round_trip_ignores_server_extras():
    data = {
        "privateKeyContainer": {
            "version": "RSA-4096",
            "privateKey": "-----BEGIN ENCRYPTED PRIVATE KEY-----\r\n...",
            "createdAt": "2024-01-01T00:00:00Z",
            "createdBy": 3,
        },
        "publicKeyContainer": {"version": "RSA-4096", "publicKey": "-----BEGIN PUBLIC KEY-----"},
    }
    container = UserKeyPairContainer.from_json(data)
    assert container.version == "RSA-4096"
    assert container.to_json() == {
        "privateKeyContainer": {
            "version": "RSA-4096",
            "privateKey": "-----BEGIN ENCRYPTED PRIVATE KEY-----\r\n...",
        },
        "publicKeyContainer": {"version": "RSA-4096", "publicKey": "-----BEGIN PUBLIC KEY-----"},
    }


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"privateKeyContainer": {"version": "A"}},
        {"privateKeyContainer": {"version": 1, "privateKey": "x"}},
        {"privateKeyContainer": {"version": "A", "privateKey": "x"}, "publicKeyContainer": {}},
    ],
)
def test_malformed_container_json(data):
    with pytest.raises(InvalidKeyPairError):
        UserKeyPairContainer.from_json(data)
