"""Reader for ``app.conf`` in the original service's ``key = value`` style.

The original (Go, beego) service kept its settings in a flat file of ``key = value`` lines;
operators keep their files, so we read the same format: blank lines and lines starting with
``#`` or ``;`` are ignored, values may be wrapped in single or double quotes (to keep
leading/trailing spaces), and the last occurrence of a key wins (as in beego).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RawEntry:
    """One value and where it came from (a file line or an environment variable)."""

    value: str
    origin: str


class AppConfSyntaxError(ValueError):
    """A line of app.conf that is not ``key = value``; the message names file and line."""


def parse_app_conf(text: str, source: str = "app.conf") -> dict[str, RawEntry]:
    """Parse app.conf text into ``{key: RawEntry}``; raises AppConfSyntaxError per bad line.

    All syntax problems are collected so the operator sees every bad line at once.
    """
    entries: dict[str, RawEntry] = {}
    problems: list[str] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        where = f"{source}:{number}"
        if line.startswith("[") and line.endswith("]"):
            problems.append(f"{where}: sections ({line}) are not supported; use flat keys")
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"{where}: expected 'key = value'")
            continue
        if any(ch.isspace() for ch in key):
            problems.append(f"{where}: key {key!r} contains whitespace")
            continue
        entries[key] = RawEntry(_unquote(value.strip()), where)
    if problems:
        raise AppConfSyntaxError("\n".join(problems))
    return entries


def read_app_conf(path: str | Path) -> dict[str, RawEntry]:
    """Read and parse an app.conf file (UTF-8)."""
    path = Path(path)
    return parse_app_conf(path.read_text(encoding="utf-8"), source=str(path))


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
