"""Pre-generated RSA key pairs for tests: TEST ONLY, their private keys and passwords are public.

Generating an RSA-4096 key pair costs several seconds, and every test session needs one per
default-seed user; ``tests/data/keys/`` holds them ready-made so fixtures only read a file. They
were made by this project's own ``generate_user_key_pair`` and are encrypted with the users'
test passwords (``<login>-crypto-pw``, see ``emulator_fixtures.encryption_password``) in the
generator's format (PBES2, PBKDF2-HMAC-SHA1, 20-byte salt, AES-256-CBC), with one difference:
``TEST_KDF_ITERATIONS`` (10,000, what legacy DRACOON keys use, e.g. the Java SDK's own test
vectors) instead of 1,300,000. Every DRACOON client in the tests (ours, in-process and in every
service subprocess, and the official SDK) unlocks them many times; at 1,300,000 iterations each
unlock costs ~0.4 s of CPU. Clients read the count from the key, so nothing else changes; the
generator's own count is tested on keys it makes (tests/crypto/test_key_pairs.py). Tests that
are about key generation itself still generate.

Regenerate (only when the key format changes; every file changes):
``.venv/bin/python -m tests.support.committed_key_pairs``
"""

from __future__ import annotations

import copy
import json
from functools import cache

from tests.support.paths import TEST_KEY_PAIRS_DIR

VERSIONS = {"A": "rsa2048", "RSA-4096": "rsa4096"}  # key pair version -> file name part
TEST_KDF_ITERATIONS = 10_000
WARNING = (
    "TEST ONLY: this private key and its password are public. "
    "Never use it for anything but this project's tests."
)


def key_pair_file(login: str, version: str):
    return TEST_KEY_PAIRS_DIR / f"test-only-{login}-{VERSIONS[version]}.json"


@cache
def _read(login: str, version: str) -> dict:
    path = key_pair_file(login, version)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no committed {version} test key pair for {login!r} ({path.name}); "
            "see tests/data/keys/README.md"
        ) from None
    if document.get("version") != version or document.get("login") != login:
        raise ValueError(f"{path} does not hold the {version} key pair of {login}")
    return document


def committed_key_pair(login: str, version: str = "RSA-4096") -> tuple[dict, str]:
    """``(UserKeyPairContainer JSON, encryption password)`` of a committed test key pair."""
    document = _read(login, version)
    return copy.deepcopy(document["key_pair"]), document["encryption_password"]


def with_test_kdf(container: dict, password: str) -> dict:
    """``container`` (UserKeyPairContainer JSON) with its private key protected again like
    ``generate_user_key_pair`` does it, but with ``TEST_KDF_ITERATIONS``: same key pair."""
    from Crypto.PublicKey import RSA

    from recording_storage.dracoon.crypto.key_pairs import (
        KEY_EXPORT_PROTECTION,
        KEY_EXPORT_SALT_BYTES,
    )

    private = container["privateKeyContainer"]
    key = RSA.import_key(private["privateKey"], passphrase=password)
    pem = key.export_key(
        format="PEM",
        pkcs=8,
        passphrase=password.encode("utf-8"),
        protection=KEY_EXPORT_PROTECTION,
        prot_params={"iteration_count": TEST_KDF_ITERATIONS, "salt_size": KEY_EXPORT_SALT_BYTES},
    ).decode("ascii")
    return {**container, "privateKeyContainer": {**private, "privateKey": pem}}


def regenerate(keep_keys: bool = False) -> None:
    """Write new key pairs for every default-seed login and version (the files change);
    ``keep_keys`` (``--keep-keys``) only protects the committed keys again."""
    from recording_storage.dracoon.crypto import generate_user_key_pair
    from tests.support.emulator_fixtures import TEST_LOGINS, encryption_password

    TEST_KEY_PAIRS_DIR.mkdir(parents=True, exist_ok=True)
    for login in TEST_LOGINS:
        for version in VERSIONS:
            password = encryption_password(login)
            if keep_keys:
                container = _read(login, version)["key_pair"]
            else:
                container = generate_user_key_pair(version, password).to_json()
            document = {
                "WARNING": WARNING,
                "login": login,
                "version": version,
                "encryption_password": password,
                "key_pair": with_test_kdf(container, password),
            }
            path = key_pair_file(login, version)
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(json.dumps(document, indent=1, sort_keys=True) + "\n")
            print(f"wrote {path}")


if __name__ == "__main__":
    import sys

    regenerate(keep_keys="--keep-keys" in sys.argv[1:])
