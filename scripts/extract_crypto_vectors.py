#!/usr/bin/env python3
"""Copy DRACOON's official crypto test vectors into the project's own test fixture.

The vectors live outside the project (``../shared/testdata/dracoon-crypto`` next to the
repository in CI), so a user's clone would skip every test that needs them. This script reads
that folder once and writes every value the tests use into one JSON file,
``tests/data/dracoon-crypto-vectors.json``; the tests read only that file.

Each entry keeps where its value came from (SDK, repository, file, commit, licence) and the
SHA-256 of the original file, because the values are third-party data (Apache-2.0, see
NOTICE). The output is deterministic (sorted keys, fixed indentation, LF, UTF-8), so
regenerating from unchanged vectors reproduces the fixture byte for byte.

    scripts/extract_crypto_vectors.py            # (re)write the fixture
    scripts/extract_crypto_vectors.py --check    # exit 1 if the folder and the fixture disagree

The vectors folder is ``--source``, else ``$DRACOON_CRYPTO_VECTORS``, else
``<repository>/../shared/testdata/dracoon-crypto``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = PROJECT_ROOT / "tests" / "data" / "dracoon-crypto-vectors.json"
LICENCE = "Apache-2.0"
JAVA_CRYPTO_SDK = "github.com/dracoon/dracoon-java-crypto-sdk"
JAVA_CRYPTO_SDK_COMMIT = "7e1ffeeff1ac50f7185dfe1dbe6c053939dfbbd6"
JAVA_SDK = "github.com/dracoon/dracoon-java-sdk"
JAVA_SDK_COMMIT = "1b74ec13d1c131ca8d9e171d38afaf158932da31"

# Top-level folder of the vectors -> where its files come from. The C#, JavaScript and Swift
# data were produced by those SDKs and are kept in the Java crypto SDK's repository.
SOURCES: dict[str, dict[str, str]] = {
    "csharp": {
        "sdk": "DRACOON C# crypto SDK",
        "repository": JAVA_CRYPTO_SDK,
        "path": "src/test/resources/integration/csharp/",
        "commit": JAVA_CRYPTO_SDK_COMMIT,
    },
    "js": {
        "sdk": "DRACOON JavaScript crypto SDK",
        "repository": JAVA_CRYPTO_SDK,
        "path": "src/test/resources/integration/js/",
        "commit": JAVA_CRYPTO_SDK_COMMIT,
    },
    "swift": {
        "sdk": "DRACOON Swift crypto SDK",
        "repository": JAVA_CRYPTO_SDK,
        "path": "src/test/resources/integration/swift/",
        "commit": JAVA_CRYPTO_SDK_COMMIT,
    },
    "unit": {
        "sdk": "DRACOON Java crypto SDK",
        "repository": JAVA_CRYPTO_SDK,
        "path": "src/test/resources/unit/",
        "commit": JAVA_CRYPTO_SDK_COMMIT,
    },
    "java-sdk": {
        "sdk": "DRACOON Java SDK",
        "repository": JAVA_SDK,
        "path": "src/test/resources/data/",
        "commit": JAVA_SDK_COMMIT,
    },
}
# Prose about the vectors, not a vector: never copied.
SKIPPED = {"README.md"}


class VectorError(Exception):
    """The vectors folder holds something this script cannot turn into a fixture entry."""


def default_source() -> Path:
    override = os.environ.get("DRACOON_CRYPTO_VECTORS")
    if override:
        return Path(override)
    return PROJECT_ROOT.parent / "shared" / "testdata" / "dracoon-crypto"


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    """A duplicate key would silently lose a value in the fixture; refuse it instead."""
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _value(path: Path, raw: bytes) -> tuple[str, object]:
    """The fixture field and value for one file: parsed JSON, exact text, or base64 text."""
    try:
        text = raw.decode("utf-8")
        if path.suffix == ".json":
            return "json", json.loads(text, object_pairs_hook=_no_duplicate_keys)
        if path.suffix == ".txt":
            return "text", text  # passwords: the whole content, no newline to strip
        if path.suffix == ".b64":
            base64.b64decode(text.strip(), validate=True)
            return "base64", text
    except (UnicodeDecodeError, ValueError, binascii.Error) as error:
        raise VectorError(f"{path}: not readable as {path.suffix[1:]}: {error}") from error
    raise VectorError(f"{path}: unknown file type {path.suffix!r}; teach this script about it")


def build(source: Path) -> dict:
    """The fixture document for every vector file below ``source``."""
    if not source.is_dir():
        raise VectorError(
            f"no crypto vectors at {source}; pass --source or set DRACOON_CRYPTO_VECTORS"
        )
    vectors: dict[str, dict] = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        name = path.relative_to(source).as_posix()
        if name in SKIPPED:
            continue
        top, _, rest = name.partition("/")
        origin = SOURCES.get(top)
        if origin is None or not rest:
            raise VectorError(f"{path}: not in a known source folder ({', '.join(SOURCES)})")
        raw = path.read_bytes()
        field, value = _value(path, raw)
        vectors[name] = {
            "sdk": origin["sdk"],
            "repository": origin["repository"],
            "file": origin["path"] + rest,
            "licence": LICENCE,
            "sha256": hashlib.sha256(raw).hexdigest(),
            field: value,
        }
    if not vectors:
        raise VectorError(f"{source} holds no vector files")
    return {
        "about": (
            "DRACOON's official crypto test vectors, copied by scripts/extract_crypto_vectors.py "
            "from the SDK repositories named per entry. Licensed under Apache-2.0 by their "
            "authors (see NOTICE); changed only in form: each file's content is stored as a "
            "value here (json: parsed, text/base64: exact), sha256 is of the original file."
        ),
        "licence": LICENCE,
        "sources": {top: {**origin, "licence": LICENCE} for top, origin in sorted(SOURCES.items())},
        "vectors": vectors,
    }


def render(document: dict) -> str:
    """The one text form of a fixture document (what is committed)."""
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def differences(expected: dict, actual: dict) -> list[str]:
    """Entry names that are missing, extra or changed, for a readable --check failure."""
    want, have = expected.get("vectors", {}), actual.get("vectors", {})
    lines = [f"missing from the fixture: {name}" for name in sorted(want.keys() - have.keys())]
    lines += [f"not in the vectors folder: {name}" for name in sorted(have.keys() - want.keys())]
    lines += [
        f"differs: {name}" for name in sorted(want.keys() & have.keys()) if want[name] != have[name]
    ]
    if not lines and {k: v for k, v in expected.items() if k != "vectors"} != {
        k: v for k, v in actual.items() if k != "vectors"
    }:
        lines.append("the fixture's header (about/licence/sources) differs")
    return lines


def check(source: Path, output: Path) -> int:
    expected_text = render(build(source))
    try:
        actual_text = output.read_text(encoding="utf-8")
    except OSError as error:
        print(f"cannot read the fixture {output}: {error}", file=sys.stderr)
        return 1
    if actual_text == expected_text:
        print(f"{output.name} agrees with {source}")
        return 0
    try:
        problems = differences(json.loads(expected_text), json.loads(actual_text))
    except ValueError:
        problems = ["the fixture is not valid JSON"]
    problems = problems or ["same values, different formatting"]
    print(
        f"{output} does not match {source}:\n  "
        + "\n  ".join(problems)
        + "\nrun scripts/extract_crypto_vectors.py to regenerate it",
        file=sys.stderr,
    )
    return 1


def write(source: Path, output: Path) -> None:
    document = build(source)
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_suffix(".tmp")
    with open(temp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(render(document))
    temp.replace(output)
    print(f"wrote {len(document['vectors'])} vectors to {output}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=None, help="the dracoon-crypto folder")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the fixture file")
    parser.add_argument(
        "--check", action="store_true", help="compare only; exit 1 if the fixture is stale"
    )
    args = parser.parse_args(argv)
    source = args.source or default_source()
    try:
        if args.check:
            return check(source, args.output)
        write(source, args.output)
    except VectorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
