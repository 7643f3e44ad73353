"""Which rooms a recording goes to: the message's targets, else the instance's rules.

Instance rules (``recordings.dracoon.targets``, JSON as in the original README)::

    [{"meetingTypeId": 14, "copyTo": [{"path": "some room/sub-room",
                                      "expiration": "4 years 3 months 2 weeks 1 day"}]}]

A rule matches when its ``meetingTypeId`` is ``"*any*"``, equals the message's
``meeting.type.id``, or (case-insensitively) equals ``meeting.type.name`` — the original
message carries only the type's name, so both are accepted. Every matching rule applies:
rules naming the meeting type come first, ``*any*`` rules after them. When two targets
resolve to the same room path only the first is kept.

"The same room path" means the same names, character for character, after the templates'
NFC normalisation (``sanitize_name``). No case folding: DRACOON does not document whether
room names are unique regardless of case, and ``casefold()`` would merge ``Straße`` and
``STRASSE`` even where DRACOON keeps two rooms, so a recording would miss a room it was
meant for. Where DRACOON does treat two paths as one room, it says so itself (409 on
create, then the lookup finds the existing room) and the transfer keeps one target per
room id (``jobs.execute``). docs/configuration.md, "Targets and templates".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from recording_storage.jobs.expiration import Expiration
from recording_storage.jobs.message import (
    InvalidMessageError,
    JobMessage,
    TargetSpec,
    parse_targets,
)
from recording_storage.jobs.templates import TemplateError, render_path

ANY = "*any*"
INSTANCE_FIELD = "recordings.dracoon.targets"


class TargetRulesError(ValueError):
    """The instance's targets JSON is malformed; the message names the element."""


@dataclass(frozen=True)
class TargetRule:
    meeting_type_id: str  # "*any*", or an id/name compared as text
    copy_to: tuple[TargetSpec, ...]

    def matches(self, type_id: str | None, type_name: str | None) -> bool:
        if self.meeting_type_id == ANY:
            return True
        if type_id is not None and self.meeting_type_id == type_id:
            return True
        return type_name is not None and self.meeting_type_id.lower() == type_name.lower()


@dataclass(frozen=True)
class ResolvedTarget:
    """A target with its template expanded: room names under the instance's parent room."""

    room_path: tuple[str, ...]
    expiration: Expiration | None
    origin: str

    @property
    def display_path(self) -> str:
        return "/".join(self.room_path)


def parse_target_rules(value: Any) -> list[TargetRule]:
    """Parse the instance's targets (JSON text or an already-decoded list)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise TargetRulesError(f"{INSTANCE_FIELD} is not valid JSON ({exc})") from None
        except RecursionError:
            raise TargetRulesError(f"{INSTANCE_FIELD} is JSON nested too deeply") from None
    if not isinstance(value, list):
        raise TargetRulesError(f"{INSTANCE_FIELD} must be a JSON list of rules")
    rules = []
    for index, item in enumerate(value):
        where = f"{INSTANCE_FIELD}[{index}]"
        if not isinstance(item, dict):
            raise TargetRulesError(f"{where} must be an object with meetingTypeId and copyTo")
        type_id = item.get("meetingTypeId")
        if isinstance(type_id, bool) or not isinstance(type_id, int | str) or type_id == "":
            raise TargetRulesError(f"{where}.meetingTypeId must be an id, a name or '*any*'")
        if not isinstance(item.get("copyTo"), list):
            raise TargetRulesError(
                f"{where}.copyTo must be a list of {{path, expiration}} objects "
                "([] stores nothing for this meeting type)"
            )
        try:
            # An empty copyTo is allowed: a meeting type that no target uses is not an error,
            # its recordings are simply not stored (and kept in S3).
            copy_to = parse_targets(item.get("copyTo"), f"{where}.copyTo")
        except InvalidMessageError as exc:
            raise TargetRulesError(f"{exc.field}: {exc.problem}") from None
        rules.append(TargetRule(str(type_id).strip(), copy_to))
    return rules


def select_targets(message: JobMessage, rules: list[TargetRule]) -> list[TargetSpec]:
    """The message's own targets, or the copyTo entries of every matching instance rule."""
    if message.targets:
        return list(message.targets)
    type_id, type_name = message.meeting.type_id, message.meeting.type_name
    specific = [r for r in rules if r.meeting_type_id != ANY and r.matches(type_id, type_name)]
    generic = [r for r in rules if r.meeting_type_id == ANY]
    return [spec for rule in specific + generic for spec in rule.copy_to]


def resolve_targets(message: JobMessage, specs: list[TargetSpec]) -> list[ResolvedTarget]:
    """Expand each spec's template; a bad template raises InvalidMessageError naming it.

    Duplicates (same room) keep the first spec: one file per room.
    """
    variables = message.template_variables()
    resolved: list[ResolvedTarget] = []
    seen: set[tuple[str, ...]] = set()  # room paths, compared exactly
    for spec in specs:
        try:
            path = tuple(render_path(spec.path, variables))
        except TemplateError as exc:
            raise InvalidMessageError(f"{spec.origin}.path", str(exc)) from None
        if path in seen:  # exact names: see the module docstring
            continue
        seen.add(path)
        resolved.append(ResolvedTarget(path, spec.expiration, spec.origin))
    return resolved
