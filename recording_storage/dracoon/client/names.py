"""DRACOON's naming rules for rooms, folders and files: validation and sanitising.

Rules (API doc, §2.5 of the reference): at most 150 characters; none of ``\\ < > : " | ? * /``;
no leading ``-``; no trailing ``.``; not ``CON PRN AUX NUL COM1-9 LPT1-9`` (also with an
extension, ``nul.txt``); not empty, ``.`` or ``..``. We also refuse control characters (C0,
DEL, C1) and invisible formatting marks (bidirectional overrides/isolates such as U+202E,
zero-width space, byte-order mark): they are invisible in every UI and a classic way to smuggle
look-alike names (``video\\u202e4pm.exe`` shows as ``videoexe.mp4``). Joiners (U+200C/D) stay:
scripts and emoji need them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from .errors import RoomNameError

MAX_NAME_LENGTH = 150
FORBIDDEN_CHARACTERS = frozenset('\\<>:"|?*/')
RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f"  # C0, DEL, C1
    r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks and overrides
    r"\u200b\ufeff]"  # zero-width space, byte-order mark
)


def name_problem(name: str) -> str | None:
    """Return why ``name`` is not a valid DRACOON node name, or ``None`` when it is valid."""
    if not isinstance(name, str):
        return f"must be a string, not {type(name).__name__}"
    if name == "" or name.strip() == "":
        return "is empty"
    if name in (".", ".."):
        return "'.' and '..' are not names"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
    bad = sorted({c for c in name if c in FORBIDDEN_CHARACTERS})
    if bad:
        shown = " ".join(bad)
        return f'contains forbidden character(s) {shown} (not allowed: \\ < > : " | ? * /)'
    if _CONTROL.search(name):
        return "contains control characters or invisible formatting marks"
    if name.startswith("-"):
        return "must not start with '-'"
    if name.endswith("."):
        return "must not end with '.'"
    if name.split(".", 1)[0].strip().upper() in RESERVED_NAMES:
        return "is a reserved device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
    return None


def validate_name(name: str) -> str:
    """Return ``name`` unchanged or raise :class:`RoomNameError` naming the rule it breaks."""
    problem = name_problem(name)
    if problem:
        raise RoomNameError(name if isinstance(name, str) else repr(name), problem)
    return name


def sanitize_name(value: str, *, replacement: str = "_") -> str:
    """Make any string a valid DRACOON name (for template values such as meeting titles).

    Forbidden and control characters become ``replacement``, a leading ``-`` and trailing
    dots/spaces are replaced or trimmed, reserved device names get a ``_`` appended, the
    result is cut to 150 characters, and an empty result becomes ``replacement``. Unicode
    is normalised to NFC so visually equal names compare equal.
    """
    if replacement and name_problem(replacement + "x") is not None:
        raise ValueError(f"replacement {replacement!r} is itself not allowed in names")
    text = unicodedata.normalize("NFC", str(value))
    text = "".join(
        replacement if (c in FORBIDDEN_CHARACTERS or _CONTROL.match(c)) else c for c in text
    )
    text = text.strip()
    if text.startswith("-"):
        text = replacement + text[1:] if replacement else text.lstrip("-")
    text = text[:MAX_NAME_LENGTH].rstrip(". ")
    if text in ("", ".", ".."):
        return replacement or "_"
    if text.split(".", 1)[0].strip().upper() in RESERVED_NAMES:
        stem, dot, ext = text.partition(".")
        text = f"{stem}_{dot}{ext}"[:MAX_NAME_LENGTH].rstrip(". ")
    return text


def split_room_path(path: str | Sequence[str]) -> list[str]:
    """Split ``"a/b/c"`` (or take a sequence) into validated room names.

    One leading or trailing ``/`` is tolerated; an empty part (``a//b``) is an error, as is
    any part breaking the naming rules. The error names the offending part.
    """
    if isinstance(path, str):
        trimmed = path.strip()
        if trimmed.startswith("/"):
            trimmed = trimmed[1:]
        if trimmed.endswith("/"):
            trimmed = trimmed[:-1]
        if not trimmed:
            raise RoomNameError(path, "the room path is empty")
        parts = trimmed.split("/")
    else:
        parts = list(path)
        if not parts:
            raise RoomNameError("", "the room path is empty")
    for part in parts:
        validate_name(part)
    return parts
