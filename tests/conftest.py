"""Shared pytest set-up. Area fixtures live in ``tests/support`` and are registered here."""

import pytest

from tests.support.crypto_vectors import CryptoVectors, load_crypto_vectors

pytest_plugins = [
    "tests.support.emulator_fixtures",
    "tests.support.aws_fixtures",
]


@pytest.fixture(scope="session")
def crypto_vectors() -> CryptoVectors:
    """DRACOON's official crypto test vectors, from the project's fixture (never skipped)."""
    return load_crypto_vectors()
