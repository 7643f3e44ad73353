"""Shared pytest set-up. Area fixtures live in ``tests/support`` and are registered here."""

import pytest

from tests.support.paths import CRYPTO_VECTORS

pytest_plugins = [
    "tests.support.emulator_fixtures",
    "tests.support.aws_fixtures",
]


@pytest.fixture(scope="session")
def crypto_vectors():
    """Path to DRACOON's official crypto test vectors (skips only when ../shared is absent)."""
    if not CRYPTO_VECTORS.is_dir():
        pytest.skip(f"crypto vectors not found at {CRYPTO_VECTORS}")
    return CRYPTO_VECTORS
