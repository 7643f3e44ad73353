"""Room path templates (``"recordings/$instance/${meetingType}"``) and DRACOON name rules.

A template is split on ``/`` into room levels first; only then are variables expanded inside
each level. A value can therefore never add a level or climb out of the parent room: ``/``
(and every other character DRACOON forbids) inside a value becomes ``_``, and a level that
ends up empty, ``.`` or ``..`` is refused. Variables: ``$name`` or ``${name}``; ``$$`` is a
literal ``$``. The variables a job offers are listed in docs/configuration.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from recording_storage.dracoon.client.names import sanitize_name as _dracoon_sanitize

MAX_TEMPLATE_LENGTH = 1000
MAX_LEVELS = 20

_VARIABLE = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\$))")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TemplateError(ValueError):
    """A template cannot be turned into a safe room path; the message names the part."""


def sanitize_name(value: str) -> str:
    """Make ``value`` a legal DRACOON node name (see ``dracoon.client.names``).

    Runs of whitespace (tabs, newlines) first become one space, so a multi-line meeting
    title stays readable; then the client's rules apply: forbidden and control characters
    become ``_``, a leading ``-`` becomes ``_``, trailing dots/spaces go, reserved device
    names get a ``_``, at most 150 characters.
    """
    return _dracoon_sanitize(" ".join(str(value).split()))


def render_path(template: str, variables: Mapping[str, object]) -> list[str]:
    """Expand ``template`` into a list of sanitized room names (one per level).

    ``variables`` maps names to values; a value of None means "not in this message" and
    using it is an error naming the variable.
    """
    if not isinstance(template, str):
        raise TemplateError(f"path must be a text, got {type(template).__name__}")
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise TemplateError(f"path is longer than {MAX_TEMPLATE_LENGTH} characters")
    stripped = template.strip().strip("/")
    if not stripped:
        raise TemplateError("path is empty: name at least one room")
    levels = stripped.split("/")
    if len(levels) > MAX_LEVELS:
        raise TemplateError(f"path {template!r} has more than {MAX_LEVELS} levels")
    names = []
    for number, level in enumerate(levels, start=1):
        if level.strip() in ("", ".", ".."):
            raise TemplateError(
                f"path {_short(template)!r}: level {number} is {level.strip()!r}; "
                "empty, '.' and '..' levels are not allowed"
            )
        expanded = _expand(level, variables, template)
        name = sanitize_name(expanded)
        if not expanded.strip(" ."):
            raise TemplateError(
                f"path {_short(template)!r}: level {number} ({level!r}) expands to "
                f"{expanded!r}, which is not a usable room name"
            )
        names.append(name)
    return names


def _expand(level: str, variables: Mapping[str, object], template: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(3):
            return "$"
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if not _NAME.match(name):
            raise TemplateError(f"path {_short(template)!r}: ${{{name}}} is not a variable name")
        if name not in variables:
            known = ", ".join(f"${key}" for key in sorted(variables))
            raise TemplateError(f"path {_short(template)!r}: unknown variable ${name} ({known})")
        value = variables[name]
        if value is None or value == "":
            raise TemplateError(f"path {_short(template)!r}: ${name} has no value for this meeting")
        # Slashes and backslashes inside a value never become levels.
        return str(value).replace("/", "_").replace("\\", "_")

    expanded = _VARIABLE.sub(replace, level)
    leftover = _VARIABLE.sub("", level)
    if "$" in leftover:
        raise TemplateError(
            f"path {_short(template)!r}: a '$' is not followed by a variable; write $$ for '$'"
        )
    return expanded


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
