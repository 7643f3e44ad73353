"""Whole numbers as people write them in configuration: the ASCII digits 0-9, nothing else.

Python's ``int()`` is generous: it accepts ``1_000``, ``+5``, ``-0``, Arabic-Indic or
full-width digits (U+0665, U+FF15) and any Unicode whitespace around them. In a configuration
value each of those is more likely a mistake, or a look-alike slipped in, than an intended
number. What one tool reads as 1000 another reads as an error, so every number in the
configuration (app.conf, the environment, the instances' keys) goes through ``plain_int``.
Spaces and tabs around the digits are allowed (a shell or an editor adds them easily).
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[ \t]*([0-9]+)[ \t]*")
MAX_DIGITS = 18  # far beyond any count, size or id here; keeps int() on short input


def plain_int(value: str) -> int:
    """``value`` as a non-negative int; ValueError unless it is only ASCII digits."""
    match = _PLAIN.fullmatch(value)
    if match is None or len(match.group(1)) > MAX_DIGITS:
        raise ValueError(f"must be a whole number written with the digits 0-9 only, got {value!r}")
    return int(match.group(1))
