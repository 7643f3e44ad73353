"""Where tests find things: the project's test data, and (only for the check that keeps the
crypto fixture in step with it) DRACOON's crypto vectors outside the project."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEST_DATA = PROJECT_ROOT / "tests" / "data"
CRYPTO_VECTOR_FIXTURE = TEST_DATA / "dracoon-crypto-vectors.json"
TEST_KEY_PAIRS_DIR = TEST_DATA / "keys"
SHARED_DIR = PROJECT_ROOT.parent / "shared"
# Read only by tests/crypto/test_vector_fixture.py; DRACOON_CRYPTO_VECTORS points elsewhere.
CRYPTO_VECTORS = Path(
    os.environ.get("DRACOON_CRYPTO_VECTORS") or SHARED_DIR / "testdata" / "dracoon-crypto"
)
CACHE_DIR = PROJECT_ROOT / ".cache"
