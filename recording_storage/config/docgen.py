"""The settings' descriptions, derived from their declarations (``schema.py``): the tables in
docs/configuration.md (app.conf keys) and docs/operations.md (supervision knobs), and the
plain-text listing of ``recording-storage config keys``.

The doc tables sit between marker comments and are rewritten, never edited by hand::

    python -m recording_storage.config.docgen          # rewrite docs/ in place
    python -m recording_storage.config.docgen --check  # exit 1 when docs/ is out of date

``tests/packaging/test_docs.py`` fails, naming that command, when a table and the
declarations differ.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from recording_storage.config.kinds import Size
from recording_storage.config.schema import ENTRYPOINT, KEYS, KEYS_BY_NAME, KNOBS, Setting

COMMAND = "python -m recording_storage.config.docgen"
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(spec: Setting[Any]) -> str:
    if not spec.default:
        return "empty"
    shown = f"`{spec.default}`"
    if isinstance(spec.kind, Size) and str(spec.default_value) != spec.default:
        shown += f" ({spec.default_value})"
    return shown


def keys_table() -> str:
    """docs/configuration.md's table of every app.conf key."""
    lines = [
        "| Key | Default | Type / validation | Meaning | Environment |",
        "|---|---|---|---|---|",
    ]
    for spec in KEYS:
        lines.append(
            f"| `{spec.key}` | {_default(spec)} | {_cell(spec.describe())} | "
            f"{_cell(spec.help)} | `{spec.env_var}` |"
        )
    return "\n".join(lines) + "\n"


def knobs_table() -> str:
    """docs/operations.md's table of the supervision knobs (``RECORDING_STORAGE_<NAME>``)."""
    lines = [
        "| Name | Default | Range | Meaning | Why the range |",
        "|---|---|---|---|---|",
    ]
    for knob in KNOBS:
        name = knob.env_var.removeprefix("RECORDING_STORAGE_")
        default = f"`{knob.default_from}`" if knob.default_from else knob.default
        why = getattr(knob.kind, "why", "")
        lines.append(
            f"| `{name}` | {default} | {_cell(knob.describe())} | {_cell(knob.help)} | "
            f"{_cell(why)} |"
        )
    return "\n".join(lines) + "\n"


def entrypoint_table() -> str:
    """docs/configuration.md's table of entrypoint.sh's ``RECORDING_STORAGE_CONFIG_*``."""
    lines = ["| Variable | Default | Accepts | Meaning |", "|---|---|---|---|"]
    for variable in ENTRYPOINT:
        default = f"`{variable.default}`" if variable.default else "unset"
        lines.append(
            f"| `{variable.env_var}` | {default} | {_cell(variable.describe())} | "
            f"{_cell(variable.help)} |"
        )
    return "\n".join(lines) + "\n"


# (file below the project root, section name, renderer)
TABLES: tuple[tuple[str, str, Callable[[], str]], ...] = (
    ("docs/configuration.md", "keys", keys_table),
    ("docs/configuration.md", "entrypoint", entrypoint_table),
    ("docs/operations.md", "knobs", knobs_table),
)


def begin_marker(name: str) -> str:
    return (
        f"<!-- BEGIN GENERATED {name}: edit recording_storage/config/schema.py, "
        f"then run {COMMAND} -->"
    )


def end_marker(name: str) -> str:
    return f"<!-- END GENERATED {name} -->"


def rewritten(text: str, name: str, table: str, source: str = "") -> str:
    """``text`` with the part between ``name``'s markers replaced by ``table``."""
    begin, end = begin_marker(name), end_marker(name)
    if text.count(begin) != 1 or text.count(end) != 1:
        raise ValueError(f"{source or 'the document'}: needs one line {begin!r} and one {end!r}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}{end}{tail}"


def stale(root: Path, write: bool) -> list[str]:
    """The doc files under ``root`` whose tables differ from the declarations; rewrites them
    when ``write``."""
    differing: list[str] = []
    for relative, name, render in TABLES:
        path = root / relative
        text = path.read_text(encoding="utf-8")
        new = rewritten(text, name, render(), source=relative)
        if new != text:
            if relative not in differing:
                differing.append(relative)
            if write:
                path.write_text(new, encoding="utf-8")
    return differing


def _plain(markdown: str) -> str:
    """Help text for a terminal: links become their text, no backticks or bold marks, ranges
    with an ASCII hyphen."""
    text = _LINK.sub(r"\1", markdown).replace("`", "").replace("**", "")
    return text.replace("\N{EN DASH}", "-")


def listing(width: int = 92) -> str:
    """Every setting for ``recording-storage config keys``: name, default, kind, variable,
    help (wrapped)."""

    def entry(name: str, default: str, accepts: str, help: str) -> list[str]:
        head = f"{name} = {default}" if default else f"{name} (empty)"
        body = textwrap.wrap(_plain(help), width - 4)
        return [head, f"    {_plain(accepts)}", *(f"    {line}" for line in body), ""]

    out = ["# app.conf keys, each overridable by its RS_* environment variable", ""]
    for spec in KEYS:
        out += entry(spec.key, spec.default, f"{spec.describe()}; {spec.env_var}", spec.help)
    out += ["# supervision knobs, set by their environment variable only", ""]
    for knob in KNOBS:
        default = knob.default
        if knob.default_from:
            default = f"the value of {KEYS_BY_NAME[knob.default_from].key}"
        why = getattr(knob.kind, "why", "")
        out += entry(knob.env_var, default, f"{knob.describe()} ({why})", knob.help)
    out += ["# entrypoint.sh (container start), checked by config check", ""]
    for variable in ENTRYPOINT:
        out += entry(variable.env_var, variable.default, variable.describe(), variable.help)
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only report tables that differ (exit 1), change nothing")  # fmt: skip
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="the project's root directory (default: the current one)")  # fmt: skip
    args = parser.parse_args(argv)
    differing = stale(args.root, write=not args.check)
    for relative in differing:
        verb = "differs from the declarations" if args.check else "rewritten"
        print(f"{relative}: {verb}", file=sys.stderr)
    if args.check and differing:
        print(f"run: {COMMAND}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
