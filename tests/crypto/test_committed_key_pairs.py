"""The committed TEST-ONLY key pairs (tests/data/keys/) open with their passwords and look like
what ``generate_user_key_pair`` writes, so fixtures that read them test what generation makes --
except for the PBKDF2 iteration count: 10,000 like legacy DRACOON keys, not 1,300,000, so the
many unlocks of a test run cost milliseconds (tests/support/committed_key_pairs.py)."""

from __future__ import annotations

import pytest
from Crypto.PublicKey import RSA

from recording_storage.dracoon.crypto import (
    PlainFileKey,
    UserKeyPair,
    UserKeyPairContainer,
    decrypt_file_key,
    encrypt_file_key,
)
from tests.support.committed_key_pairs import (
    TEST_KDF_ITERATIONS,
    VERSIONS,
    committed_key_pair,
    key_pair_file,
)
from tests.support.emulator_fixtures import TEST_LOGINS, encryption_password
from tests.support.paths import TEST_KEY_PAIRS_DIR

from .test_key_pairs import AES256_CBC_OID, _pbes2_parameters

PAIRS = [(login, version) for login in TEST_LOGINS for version in VERSIONS]


def test_every_file_is_marked_test_only_and_expected():
    files = {path.name for path in TEST_KEY_PAIRS_DIR.glob("*.json")}
    assert files == {key_pair_file(login, version).name for login, version in PAIRS}
    assert all(name.startswith("test-only-") for name in files)


@pytest.mark.parametrize(("login", "version"), PAIRS)
def test_committed_key_pair_opens_and_has_the_generators_format(login, version):
    data, password = committed_key_pair(login, version)
    assert password == encryption_password(login)
    container = UserKeyPairContainer.from_json(data)
    assert container.version == version
    assert container.to_json() == data  # nothing beyond what the generator writes

    key_pair = UserKeyPair.unlock(container, password)
    bits = 2048 if version == "A" else 4096
    assert key_pair.modulus_bits == bits
    public = RSA.import_key(container.public_key_container.public_key)
    assert public.e == 65537 and public.size_in_bits() == bits

    params = _pbes2_parameters(container.private_key_container.private_key)
    assert params["iterations"] == TEST_KDF_ITERATIONS == 10_000  # the generator: 1,300,000
    assert len(params["salt"]) == 20
    assert params["kdf_extra_fields"] == 0  # PRF omitted = HMAC-SHA1 default, no keyLength
    assert params["cipher"] == AES256_CBC_OID
    assert len(params["iv"]) == 16

    plain = PlainFileKey.generate()
    assert (
        decrypt_file_key(encrypt_file_key(plain, key_pair.public_key_container), key_pair) == plain
    )


def test_every_pair_is_distinct():
    publics = {
        committed_key_pair(login, version)[0]["publicKeyContainer"]["publicKey"]
        for login, version in PAIRS
    }
    assert len(publics) == len(PAIRS)


def test_callers_get_copies():
    data, _ = committed_key_pair("alice")
    data["privateKeyContainer"]["privateKey"] = "changed"
    assert committed_key_pair("alice")[0]["privateKeyContainer"]["privateKey"] != "changed"


def test_unknown_login_names_the_readme():
    with pytest.raises(FileNotFoundError, match="README"):
        committed_key_pair("mallory")
