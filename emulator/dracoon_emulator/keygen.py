"""Key pairs for seeded users who have only an ``encryption_password``.

Generating a DRACOON user key pair (RSA plus a PKCS#8 private key protected the way the SDKs
expect) is what ``recording_storage.dracoon.crypto`` already does, carefully and tested
against the official SDKs. The emulator borrows it instead of keeping a second copy, so this
one feature needs the ``recording-storage`` distribution installed next to
``dracoon-emulator``. Everything else in the emulator works without it; a seed can always give
a pre-generated ``key_pair`` instead (docs/emulator.md, "Distribution and dependencies").
"""

from __future__ import annotations


class KeyGenerationUnavailable(RuntimeError):
    """The seed asks for a generated key pair but recording-storage is not installed."""


def generate_key_pair(version: str, password: str) -> dict:
    """A new UserKeyPairContainer (JSON dict) of ``version`` protected by ``password``.

    Slow (about a second for RSA-4096): called only for users whose seed has no key pair.
    """
    try:
        from recording_storage.dracoon.crypto import generate_user_key_pair
    except ImportError:
        raise KeyGenerationUnavailable(
            "generating a user key pair from encryption_password needs the recording-storage "
            "package (pip install -e . in the project root); or give the user a pre-generated "
            "key_pair in the seed"
        ) from None
    pair: dict = generate_user_key_pair(version, password).to_json()
    return pair
