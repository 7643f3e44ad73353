"""The SQS job message (the original service's format) parsed into a validated ``JobMessage``.

Only the fields the job needs are read; unknown fields are ignored so producers can add
data freely. A message that can never be valid raises ``InvalidMessageError`` naming the
field (``storage.extra["aws.s3"].keys[1]``); such messages are never retried (see
"Failure classes" in docs/configuration.md).
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recording_storage.jobs.expiration import Expiration, ExpirationError, parse_expiration

MAX_MESSAGE_BYTES = 256 * 1024  # the SQS maximum
MAX_KEYS = 100
MAX_TARGETS = 50
MAX_TEXT = 1000

# Used with fullmatch: "$" alone would accept a trailing newline ("example.com\n").
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")
_S3_EXTRA = 'storage.extra["aws.s3"]'


class InvalidMessageError(ValueError):
    """The message can never succeed: do not retry it. ``field`` names the bad field;
    ``instance`` is the job's instance domain once known (the runner sets it), so the
    worker's failure log can name it."""

    instance: str | None = None

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"invalid job message: {field}: {problem}")


@dataclass(frozen=True)
class TargetSpec:
    """One destination: a room path template and an optional expiration."""

    path: str
    expiration: Expiration | None
    origin: str  # where it came from, for error messages: "storage.extra.dracoon.targets[0]"


@dataclass(frozen=True)
class MeetingInfo:
    id: str | None
    type_id: str | None
    type_name: str | None
    date: datetime | None
    user_name: str | None


@dataclass(frozen=True)
class JobMessage:
    storage_type: str
    bucket: str
    keys: tuple[str, ...]
    targets: tuple[TargetSpec, ...]  # empty: use the instance's recordings.dracoon.targets
    meeting: MeetingInfo
    instance_domain: str

    def template_variables(self) -> dict[str, str | None]:
        """Values for path templates (None = not in this message; using it is an error)."""
        date = self.meeting.date
        return {
            "instance": self.instance_domain,
            "meetingType": self.meeting.type_name,
            "meetingTypeId": self.meeting.type_id,
            "meetingId": self.meeting.id,
            "year": f"{date.year:04d}" if date else None,
            "month": f"{date.month:02d}" if date else None,
            "day": f"{date.day:02d}" if date else None,
            "date": date.strftime("%Y-%m-%d") if date else None,
        }


def parse_message(body: str | bytes) -> JobMessage:
    """Validate ``body`` (JSON text) and return the JobMessage, or raise InvalidMessageError."""
    if isinstance(body, str):
        body = body.encode("utf-8", errors="surrogatepass")
    if len(body) > MAX_MESSAGE_BYTES:
        raise InvalidMessageError("(body)", f"larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMessageError("(body)", f"not valid JSON ({_first_line(exc)})") from None
    except RecursionError:  # "[[[[..." within the size limit exhausts the parser's stack
        raise InvalidMessageError("(body)", "JSON is nested too deeply") from None
    root = _object(data, "(body)")

    storage = _object(root.get("storage"), "storage")
    storage_type = _text(storage.get("type"), "storage.type")
    if storage_type.lower() != "dracoon":
        raise InvalidMessageError("storage.type", f"{storage_type!r} is not supported (dracoon)")
    extra = _object(storage.get("extra"), "storage.extra")

    s3 = _object(extra.get("aws.s3"), _S3_EXTRA)
    bucket = _text(s3.get("bucket"), f"{_S3_EXTRA}.bucket")
    if not _BUCKET.fullmatch(bucket):
        raise InvalidMessageError(f"{_S3_EXTRA}.bucket", f"{bucket!r} is not an S3 bucket name")
    keys = _keys(s3.get("keys"))

    targets: tuple[TargetSpec, ...] = ()
    dracoon = extra.get("dracoon")
    if dracoon is not None:
        dracoon = _object(dracoon, "storage.extra.dracoon")
        targets = parse_targets(dracoon.get("targets"), "storage.extra.dracoon.targets")

    meeting = _meeting(root.get("meeting"))
    instance = _object(root.get("instance"), "instance")
    domain = _text(instance.get("domain"), "instance.domain")
    if not _DOMAIN.fullmatch(domain):
        raise InvalidMessageError("instance.domain", f"{_short(domain)!r} is not a domain name")
    return JobMessage("dracoon", bucket, keys, targets, meeting, domain)


def parse_targets(value: Any, field: str) -> tuple[TargetSpec, ...]:
    """``[{"path": ..., "expiration": ...}, ...]``; None or [] means no targets."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidMessageError(field, "must be a list of {path, expiration} objects")
    if len(value) > MAX_TARGETS:
        raise InvalidMessageError(field, f"has more than {MAX_TARGETS} targets")
    targets = []
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        target = _object(item, where)
        path = _text(target.get("path"), f"{where}.path")
        phrase = target.get("expiration")
        if phrase is not None and not isinstance(phrase, str):
            raise InvalidMessageError(f"{where}.expiration", "must be a text or null")
        try:
            expiration = parse_expiration(phrase)
        except ExpirationError as exc:
            raise InvalidMessageError(f"{where}.expiration", str(exc)) from None
        targets.append(TargetSpec(path, expiration, where))
    return tuple(targets)


def file_name_of(key: str) -> str:
    """The DRACOON file name of an S3 key: its base name (``a/b/c.mp4`` -> ``c.mp4``)."""
    return posixpath.basename(key)


def _keys(value: Any) -> tuple[str, ...]:
    field = f"{_S3_EXTRA}.keys"
    if not isinstance(value, list) or not value:
        raise InvalidMessageError(field, "must be a non-empty list of S3 keys")
    if len(value) > MAX_KEYS:
        raise InvalidMessageError(field, f"has more than {MAX_KEYS} keys")
    keys: list[str] = []
    for index, key in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(key, str) or not key:
            raise InvalidMessageError(where, "must be a non-empty string")
        if len(key.encode("utf-8", errors="surrogatepass")) > 1024:
            raise InvalidMessageError(where, "is longer than S3's 1024 bytes")
        if not file_name_of(key).strip():
            raise InvalidMessageError(where, f"{_short(key)!r} has no file name (ends with '/')")
        if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in key):
            raise InvalidMessageError(where, "contains control characters")
        _require_unicode(key, where)
        if key not in keys:  # a repeated key is the same recording: transfer it once
            keys.append(key)
    return tuple(keys)


def _meeting(value: Any) -> MeetingInfo:
    if value is None:
        return MeetingInfo(None, None, None, None, None)
    meeting = _object(value, "meeting")
    meeting_type = meeting.get("type")
    type_id = type_name = None
    if meeting_type is not None:
        meeting_type = _object(meeting_type, "meeting.type")
        type_id = _scalar(meeting_type.get("id"), "meeting.type.id")
        type_name = _optional_text(meeting_type.get("name"), "meeting.type.name")
    date = None
    raw_date = meeting.get("date")
    if raw_date is not None:
        text = _text(raw_date, "meeting.date")
        try:
            date = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidMessageError(
                "meeting.date", f"{_short(text)!r} is not an ISO-8601 date-time"
            ) from None
        if date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
    user = meeting.get("user")
    user_name = None
    if isinstance(user, dict):
        user_name = _optional_text(user.get("name"), "meeting.user.name")
    return MeetingInfo(
        id=_scalar(meeting.get("id"), "meeting.id"),
        type_id=type_id,
        type_name=type_name,
        date=date,
        user_name=user_name,
    )


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        raise InvalidMessageError(field, "is missing")
    if not isinstance(value, dict):
        raise InvalidMessageError(field, f"must be an object, got {_kind(value)}")
    return value


def _text(value: Any, field: str) -> str:
    if value is None:
        raise InvalidMessageError(field, "is missing")
    if not isinstance(value, str):
        raise InvalidMessageError(field, f"must be a string, got {_kind(value)}")
    if not value.strip():
        raise InvalidMessageError(field, "must not be empty")
    if len(value) > MAX_TEXT:
        raise InvalidMessageError(field, f"is longer than {MAX_TEXT} characters")
    _require_unicode(value, field)
    return value


def _require_unicode(value: str, field: str) -> None:
    """Refuse lone surrogates (JSON ``"\\ud800"``): no S3 key, log line or DRACOON name can
    carry them, and they would fail much later with an encoding error instead of here."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessageError(field, "is not valid Unicode (lone surrogate)") from None


def summarize(body: str) -> tuple[dict[str, Any] | None, str | None]:
    """What ``dlq list`` shows of a dead-lettered body: the job's summary (instance, bucket,
    keys, targets, meeting) and None, or None and the reason the body is not a valid job
    (the same parser the worker uses, so the reason is the one the worker logged)."""
    try:
        job = parse_message(body)
    except InvalidMessageError as error:
        return None, str(error)
    return {
        "instance": job.instance_domain,
        "bucket": job.bucket,
        "keys": list(job.keys),
        "targets": [target.path for target in job.targets],
        "meeting_id": job.meeting.id,
    }, None


def _optional_text(value: Any, field: str) -> str | None:
    return None if value is None or value == "" else _text(value, field)


def _scalar(value: Any, field: str) -> str | None:
    """An id that may be a number or a string; kept as text."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidMessageError(field, f"must be a number or a string, got {_kind(value)}")
    text = str(value)
    if len(text) > 100:
        raise InvalidMessageError(field, "is longer than 100 characters")
    _require_unicode(text, field)
    return text


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
