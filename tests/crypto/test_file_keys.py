"""File keys: round trips across versions, typed errors, sizes, JSON and OAEP parameters."""

from __future__ import annotations

import base64

import pytest
from Crypto.Cipher import PKCS1_OAEP
from Crypto.Hash import SHA1, SHA256
from Crypto.Signature.pss import MGF1

from recording_storage.dracoon.crypto import (
    FILE_KEY_A,
    FILE_KEY_RSA4096,
    KEY_PAIR_A,
    KEY_PAIR_RSA4096,
    EncryptedFileKey,
    InvalidFileKeyError,
    InvalidKeyPairError,
    PlainFileKey,
    PublicKeyContainer,
    UnknownVersionError,
    VersionMismatchError,
    decrypt_file_key,
    encrypt_file_key,
    file_key_version_for,
)
from recording_storage.dracoon.crypto import file_keys as file_keys_module

B64 = base64.b64encode


def test_version_mapping():
    assert file_key_version_for(KEY_PAIR_A) == FILE_KEY_A == "A"
    assert file_key_version_for(KEY_PAIR_RSA4096) == FILE_KEY_RSA4096 == "RSA-4096/AES-256-GCM"
    for bad in ("X", "RSA-4096/AES-256-GCM", "", None):
        with pytest.raises(UnknownVersionError):
            file_key_version_for(bad)


@pytest.mark.parametrize("version", ["A", "RSA-4096"])
def test_round_trip_for_each_version(unit_key_pairs, version):
    key_pair = unit_key_pairs[version]
    plain = PlainFileKey(b"k" * 32, b"i" * 12, b"t" * 16)
    wrapped = encrypt_file_key(plain, key_pair.public_key_container)
    assert wrapped.version == file_key_version_for(version)
    assert len(wrapped.key) == key_pair.modulus_bits // 8
    assert (wrapped.iv, wrapped.tag) == (plain.iv, plain.tag)
    assert decrypt_file_key(EncryptedFileKey.from_json(wrapped.to_json()), key_pair) == plain


def test_rewrap_from_one_version_to_the_other(unit_key_pairs):
    """Key distribution: unwrap with an A pair, wrap for a RSA-4096 user, and back."""
    plain = PlainFileKey.generate()
    as_a = encrypt_file_key(plain, unit_key_pairs["A"].public_key_container)
    unwrapped = decrypt_file_key(as_a, unit_key_pairs["A"])
    as_4096 = encrypt_file_key(unwrapped, unit_key_pairs["RSA-4096"].public_key_container)
    assert decrypt_file_key(as_4096, unit_key_pairs["RSA-4096"]) == plain


@pytest.mark.parametrize(("wrap_for", "unwrap_with"), [("A", "RSA-4096"), ("RSA-4096", "A")])
def test_version_mismatch_before_rsa(unit_key_pairs, monkeypatch, wrap_for, unwrap_with):
    wrapped = encrypt_file_key(
        PlainFileKey.generate(), unit_key_pairs[wrap_for].public_key_container
    )
    monkeypatch.setattr(file_keys_module, "_oaep", lambda *a: pytest.fail("RSA work started"))
    with pytest.raises(VersionMismatchError):
        decrypt_file_key(wrapped, unit_key_pairs[unwrap_with])


def test_unknown_versions_are_typed_errors():
    with pytest.raises(UnknownVersionError):
        EncryptedFileKey("X", b"\0" * 256, b"\0" * 12, None)
    with pytest.raises(UnknownVersionError):
        EncryptedFileKey.from_json({"version": "X", "key": "!!", "iv": "!!"})  # before base64
    with pytest.raises(UnknownVersionError):
        PlainFileKey.from_json({"version": "X", "key": B64(b"k" * 32).decode(), "iv": "x"})
    with pytest.raises(UnknownVersionError):
        encrypt_file_key(PlainFileKey.generate(), PublicKeyContainer("X", "pem"))


def test_plain_file_key_versions_of_both_sdks_accepted():
    for version in ("A", "AES-256-GCM"):
        key = PlainFileKey.from_json(
            {"version": version, "key": B64(b"k" * 32).decode(), "iv": B64(b"i" * 12).decode()}
        )
        assert key.tag is None


@pytest.mark.parametrize(
    ("key", "iv", "tag"),
    [
        (b"k" * 31, b"i" * 12, None),
        (b"k" * 33, b"i" * 12, None),
        (b"k" * 32, b"i" * 16, None),
        (b"k" * 32, b"i" * 11, None),
        (b"k" * 32, b"i" * 12, b"t" * 15),
        (b"k" * 32, b"i" * 12, b""),
        ("k" * 32, b"i" * 12, None),
    ],
)
def test_plain_file_key_sizes(key, iv, tag):
    with pytest.raises(InvalidFileKeyError):
        PlainFileKey(key, iv, tag)


def _enc_json(**overrides):
    data = {
        "version": "A",
        "key": B64(b"r" * 256).decode(),
        "iv": B64(b"i" * 12).decode(),
        "tag": B64(b"t" * 16).decode(),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


@pytest.mark.parametrize(
    "overrides",
    [
        {"iv": B64(b"i" * 16).decode()},
        {"tag": B64(b"t" * 12).decode()},
        {"key": ""},
        {"key": ...},
        {"iv": ...},
        {"iv": "8O+rDR/+InRDmWx"},  # not padded / wrong length
        {"tag": "SsQh5Pws_rmrVC2b-25v9A=="},  # URL-safe alphabet is not DRACOON's
        {"tag": "SsQh5Pws/rmrVC2b+25v9A"},  # padding missing
        {"iv": "8O+rDR/+ InRDmWxB"},  # junk inside
        {"version": ...},
        {"version": 4},
    ],
)
def test_encrypted_file_key_json_rejections(overrides):
    with pytest.raises((InvalidFileKeyError, UnknownVersionError)):
        EncryptedFileKey.from_json(_enc_json(**overrides))


def test_encrypted_file_key_json_shape():
    parsed = EncryptedFileKey.from_json(_enc_json())
    out = parsed.to_json()
    assert out == _enc_json()
    assert len(out["key"]) == 344 and len(out["iv"]) == 16 and len(out["tag"]) == 24


def test_missing_or_null_tag_is_none_and_omitted():
    for data in (_enc_json(tag=...), _enc_json(tag=None)):
        parsed = EncryptedFileKey.from_json(data)
        assert parsed.tag is None
        assert "tag" not in parsed.to_json()


def test_rsa_ciphertext_of_wrong_length_is_invalid(unit_key_pairs):
    wrapped = encrypt_file_key(PlainFileKey.generate(), unit_key_pairs["A"].public_key_container)
    short = EncryptedFileKey(wrapped.version, wrapped.key[:-1], wrapped.iv, wrapped.tag)
    with pytest.raises(InvalidFileKeyError):
        decrypt_file_key(short, unit_key_pairs["A"])


def test_wrapped_payload_that_is_not_32_bytes_is_invalid(unit_key_pairs):
    key_pair = unit_key_pairs["RSA-4096"]
    cipher = file_keys_module._oaep(
        key_pair._private_key, file_keys_module.key_pair_parameters("RSA-4096")
    )
    odd = EncryptedFileKey("RSA-4096/AES-256-GCM", cipher.encrypt(b"x" * 16), b"i" * 12, None)
    with pytest.raises(InvalidFileKeyError, match="16 bytes"):
        decrypt_file_key(odd, key_pair)


def test_encrypt_for_broken_public_keys(unit_key_pairs):
    a_pem = unit_key_pairs["A"].public_key_container.public_key
    big_pem = unit_key_pairs["RSA-4096"].public_key_container.public_key
    for container in (
        PublicKeyContainer("A", big_pem),  # modulus does not fit the version
        PublicKeyContainer("RSA-4096", a_pem),
        PublicKeyContainer("A", a_pem.replace("PUBLIC KEY", "PUBLIC KEX")),
        PublicKeyContainer("A", "not a pem"),
    ):
        with pytest.raises(InvalidKeyPairError):
            encrypt_file_key(PlainFileKey.generate(), container)


@pytest.mark.parametrize(
    ("version", "right_mgf", "wrong_mgf"), [("A", SHA1, SHA256), ("RSA-4096", SHA256, SHA1)]
)
def test_oaep_parameters_are_the_java_ones(unit_key_pairs, version, right_mgf, wrong_mgf):
    """Regression guard for the classic pitfall: "A" is OAEP SHA-256 with MGF1-SHA-1."""
    key_pair = unit_key_pairs[version]
    plain = PlainFileKey.generate()
    wrapped = encrypt_file_key(plain, key_pair.public_key_container)

    def oaep(mgf_hash):
        return PKCS1_OAEP.new(
            key_pair._private_key,
            hashAlgo=SHA256,
            mgfunc=lambda seed, length: MGF1(seed, length, mgf_hash),
        )

    assert oaep(right_mgf).decrypt(wrapped.key) == plain.key
    with pytest.raises(ValueError):
        oaep(wrong_mgf).decrypt(wrapped.key)


@pytest.mark.parametrize("hash_module", [SHA1, SHA256])
@pytest.mark.parametrize("length", [0, 1, 19, 20, 32, 33, 223, 479, 1000])
def test_hashlib_mgf1_is_pycryptodomes(hash_module, length):
    """The wraps' MGF1 runs on hashlib (speed); its masks must be byte for byte the reference's."""
    for seed in (b"", b"s", bytes(range(256)) * 2):
        mask = file_keys_module._mgf1(hash_module)(seed, length)
        assert mask == MGF1(seed, length, hash_module)
        assert len(mask) == length
