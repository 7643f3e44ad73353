#!/usr/bin/env python3
"""Reduce DRACOON's OpenAPI description to what the contract tests read.

DRACOON publishes its API v4 as one OpenAPI 3.0 file (1.5 MB, mostly prose and examples). The
tests need the machine-readable part only: paths, operations, parameters, request bodies,
responses and the schemas those reference. This script keeps exactly that, drops prose
(``description``, ``summary``, ``examples``, ``externalDocs``, ``tags`` ...), and turns each
response's error examples into ``x-error-codes`` (the documented DRACOON ``errorCode`` values),
because those codes are the one fact in the examples the tests check.

The output records the source version and the source file's sha256, and is deterministic
(sorted keys, fixed indentation), so running the script again on the same source reproduces
the committed file byte for byte (``tests/contract/test_reduced_description.py`` checks that
when the source is present).

    python scripts/reduce_openapi.py [SOURCE] [OUTPUT]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_NAME = "dracoon-openapi-4.26.7.json"
DEFAULT_OUTPUT = ROOT / "tests" / "data" / "dracoon-openapi-4.26.7.reduced.json"

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Keywords that carry prose or presentation only; validation never reads them.
PROSE = frozenset(
    {"description", "summary", "example", "examples", "externalDocs", "tags", "title", "xml"}
)
# Maps whose KEYS are names chosen by the API (a property may well be called "description"),
# so their keys are kept as they are and only their values are reduced.
_ERROR_CODE_IN_TEXT = re.compile(r'"errorCode"\s*:\s*(-?\d+)')
NAMED_MAPS = frozenset({"properties", "content", "headers", "responses", "encoding"})


def reduce_node(node: object) -> object:
    """A schema/parameter/body/response with prose keywords removed (recursively)."""
    if isinstance(node, list):
        return [reduce_node(item) for item in node]
    if not isinstance(node, dict):
        return node
    reduced: dict = {}
    for key, value in node.items():
        if key in NAMED_MAPS and isinstance(value, dict):
            reduced[key] = {name: reduce_node(item) for name, item in value.items()}
        elif key in PROSE:
            continue
        else:
            reduced[key] = reduce_node(value)
    return reduced


def error_codes(response: dict) -> list[int]:
    """The DRACOON ``errorCode`` values a response's examples document. Most examples are
    JSON objects; a few are text with placeholders (``"nodeId": #``), read with a pattern."""
    codes = set()
    for media in (response.get("content") or {}).values():
        for example in (media.get("examples") or {}).values():
            value = example.get("value") if isinstance(example, dict) else None
            if isinstance(value, dict) and isinstance(value.get("errorCode"), int):
                codes.add(value["errorCode"])
            elif isinstance(value, str):
                codes.update(int(code) for code in _ERROR_CODE_IN_TEXT.findall(value))
    return sorted(codes, reverse=True)


def reduce_operation(operation: dict) -> dict:
    reduced = reduce_node(operation)
    for status, response in (operation.get("responses") or {}).items():
        # OpenAPI 3.0 requires a description on every response; it stays, empty.
        reduced["responses"][status]["description"] = ""
        codes = error_codes(response)
        if codes:
            reduced["responses"][status]["x-error-codes"] = codes
    return reduced


def referenced_schemas(node: object, schemas: dict, seen: set[str]) -> None:
    """Collect the names of every component schema ``node`` references, transitively."""
    if isinstance(node, list):
        for item in node:
            referenced_schemas(item, schemas, seen)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        prefix = "#/components/schemas/"
        if isinstance(ref, str) and ref.startswith(prefix):
            name = ref[len(prefix) :]
            if name not in seen:
                seen.add(name)
                referenced_schemas(schemas[name], schemas, seen)
        for value in node.values():
            referenced_schemas(value, schemas, seen)


def reduce_description(source: bytes, source_name: str) -> dict:
    full = json.loads(source)
    paths: dict = {}
    for path, item in full["paths"].items():
        kept = {}
        for key, value in item.items():
            if key in HTTP_METHODS:
                kept[key] = reduce_operation(value)
            elif key in ("parameters", "servers"):
                kept[key] = reduce_node(value)
        paths[path] = kept
    schemas = full.get("components", {}).get("schemas", {})
    used: set[str] = set()
    referenced_schemas(paths, schemas, used)
    components: dict = {"schemas": {name: reduce_node(schemas[name]) for name in sorted(used)}}
    if "securitySchemes" in full.get("components", {}):
        components["securitySchemes"] = reduce_node(full["components"]["securitySchemes"])
    reduced = {
        "openapi": full["openapi"],
        "info": {
            "title": full["info"].get("title", "DRACOON API"),
            "version": full["info"]["version"],
        },
        "x-reduced-from": {
            "file": source_name,
            "version": full["info"]["version"],
            "sha256": hashlib.sha256(source).hexdigest(),
            "generator": "scripts/reduce_openapi.py",
        },
        "servers": full.get("servers", []),
        "paths": paths,
        "components": components,
    }
    if "security" in full:
        reduced["security"] = full["security"]
    return reduced


def render(reduced: dict) -> bytes:
    """Deterministic bytes: sorted keys, ASCII only, final newline. The top levels are indented
    and every operation and every schema is one compact line, so diffs between versions of
    the description stay readable while the file stays small."""
    return (_render(reduced, 0) + "\n").encode("ascii")


def _render(value: object, depth: int) -> str:
    if not isinstance(value, dict) or not value or depth >= 3:
        return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    pad = " " * (depth + 1)
    items = [
        f"{pad}{json.dumps(key, ensure_ascii=True)}: {_render(value[key], depth + 1)}"
        for key in sorted(value)
    ]
    return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"


def default_source() -> Path:
    """``../shared/reference/`` next to the checkout (or next to its parent, for worktrees)."""
    for base in (ROOT.parent, ROOT.parent.parent):
        candidate = base / "shared" / "reference" / SOURCE_NAME
        if candidate.is_file():
            return candidate
    return ROOT.parent / "shared" / "reference" / SOURCE_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=None)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    source_path = args.source or default_source()
    try:
        source = source_path.read_bytes()
    except OSError as exc:
        print(f"reduce_openapi: cannot read the source description: {exc}", file=sys.stderr)
        return 2
    data = render(reduce_description(source, source_path.name))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"reduce_openapi: wrote {args.output} ({len(data)} bytes from {len(source)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
