"""Crypto test fixtures: unlocked vector key pairs, cached for the whole session.

Unlocking a 1,300,000-iteration key costs about half a second, so each vector key pair is
unlocked at most once per session and shared by every test that needs it.
"""

from __future__ import annotations

import pytest

from recording_storage.dracoon.crypto import UserKeyPair

from .vectors import UNIT_PW, KeyPairVector, container_from_names, key_pair_container


@pytest.fixture(scope="session")
def unlock_vector(crypto_vectors):
    """``unlock_vector(vector) -> UserKeyPair``, cached per vector."""
    cache: dict[KeyPairVector, UserKeyPair] = {}

    def unlock(vector: KeyPairVector) -> UserKeyPair:
        if vector not in cache:
            container = key_pair_container(crypto_vectors, vector)
            cache[vector] = UserKeyPair.unlock(container, crypto_vectors.text(vector.password_file))
        return cache[vector]

    return unlock


@pytest.fixture(scope="session")
def unit_key_pairs(crypto_vectors):
    """The Java unit key pairs (legacy KDF, fast): ``{"A": UserKeyPair, "RSA-4096": ...}``."""
    password = crypto_vectors.text(UNIT_PW)
    return {
        version: UserKeyPair.unlock(
            container_from_names(
                crypto_vectors,
                f"unit/data/{folder}/private_key.json",
                f"unit/data/{folder}/public_key.json",
            ),
            password,
        )
        for version, folder in (("A", "kp_rsa2048"), ("RSA-4096", "kp_rsa4096"))
    }
