"""Where tests find things outside the project: the shared DRACOON crypto vectors."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = PROJECT_ROOT.parent / "shared"
CRYPTO_VECTORS = SHARED_DIR / "testdata" / "dracoon-crypto"
CACHE_DIR = PROJECT_ROOT / ".cache"
