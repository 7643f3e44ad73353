"""DRACOON's official crypto vectors, as the project's own fixture holds them.

``tests/data/dracoon-crypto-vectors.json`` is written by ``scripts/extract_crypto_vectors.py``
from the vectors folder (see docs/crypto.md). Entries are named by their path in that folder,
e.g. ``unit/data/kp_rsa2048/private_key.json``, so a test reads like the vectors' own README.
"""

from __future__ import annotations

import base64
import copy
import json
from functools import cache

from tests.support.paths import CRYPTO_VECTOR_FIXTURE


class CryptoVectors:
    """Read-only access to the fixture's entries by name."""

    def __init__(self, document: dict):
        self._entries: dict[str, dict] = document["vectors"]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, name: str) -> dict:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(
                f"{name} is not in {CRYPTO_VECTOR_FIXTURE.name}; "
                "regenerate it with scripts/extract_crypto_vectors.py"
            ) from None

    def _field(self, name: str, field: str):
        entry = self.entry(name)
        if field not in entry:
            raise TypeError(f"{name} holds no {field} value (fields: {sorted(entry)})")
        return entry[field]

    def json(self, name: str) -> dict:
        """A JSON file's content (a copy: tests may change it)."""
        return copy.deepcopy(self._field(name, "json"))

    def text(self, name: str) -> str:
        """A text file's exact content (password files have no trailing newline)."""
        return self._field(name, "text")

    def b64(self, name: str) -> bytes:
        """The bytes a ``.b64`` file encodes."""
        return base64.b64decode(self._field(name, "base64").strip(), validate=True)


@cache
def load_crypto_vectors() -> CryptoVectors:
    return CryptoVectors(json.loads(CRYPTO_VECTOR_FIXTURE.read_text(encoding="utf-8")))
