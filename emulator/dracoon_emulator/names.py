"""DRACOON's node name rules (codes in docs/emulator.md) and the autorename pattern."""

from __future__ import annotations

import re

from .errors import ApiError

MAX_NAME_LENGTH = 150
_FORBIDDEN = set('\\<>:"|?*/')
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?$", re.IGNORECASE)


def check_name(name: object, field: str = "name") -> str:
    """Return the name or raise 400 -40755 (bad name) / -80000 (missing)."""
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, -80000, f"Mandatory field '{field}' is missing or empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ApiError(400, -40755, f"Name is longer than {MAX_NAME_LENGTH} characters")
    bad = sorted(set(name) & _FORBIDDEN)
    if bad or any(ord(c) < 32 for c in name):
        raise ApiError(400, -40755, f"Name contains forbidden characters {''.join(bad)!r}")
    if name.startswith("-") or name.endswith("."):
        raise ApiError(400, -40755, "Name must not start with '-' or end with '.'")
    if _RESERVED.match(name):
        raise ApiError(400, -40755, f"Name {name!r} is reserved")
    return name


def autorename_candidates(name: str):
    """``a.mp4`` -> ``a (1).mp4``, ``a (2).mp4``, ..."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    number = 1
    while True:
        yield f"{stem} ({number}){dot}{ext}"
        number += 1
