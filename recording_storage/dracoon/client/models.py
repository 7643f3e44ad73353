"""Plain data the client returns: nodes, server capabilities, key distribution reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import DracoonAnswerError


def parse_datetime(value: Any) -> datetime | None:
    """DRACOON dates are ISO-8601 UTC (``2022-01-03T01:00:00Z``, milliseconds optional)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_datetime(value: datetime) -> str:
    """ISO-8601 in UTC with ``Z``; a naive datetime is taken as UTC."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def answer_object(
    value: Any, method: str, endpoint: str, what: str = "the answer"
) -> dict[str, Any]:
    """``value`` if it is a JSON object, else DracoonAnswerError naming the endpoint."""
    if not isinstance(value, dict):
        raise DracoonAnswerError(
            method, endpoint, 200, f"{what} is {_kind(value)}, not a JSON object"
        )
    return value


def answer_list(value: Any, method: str, endpoint: str, what: str) -> list[Any]:
    """``value`` if it is a JSON array, else DracoonAnswerError naming the endpoint."""
    if not isinstance(value, list):
        raise DracoonAnswerError(method, endpoint, 200, f"{what} is {_kind(value)}, not a list")
    return value


def answer_int(
    value: Any, method: str, endpoint: str, what: str, *, optional: bool = False
) -> int | None:
    """A whole number (``true`` is not one); ``None`` only when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DracoonAnswerError(method, endpoint, 200, f"{what} is {_kind(value)}, not a number")
    return value


def _kind(value: Any) -> str:
    """A type name for messages; never the value (it may be anything, even a secret)."""
    return {
        type(None): "missing/null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Node:
    """A room, folder or file as DRACOON describes it (``raw`` keeps every field)."""

    id: int
    name: str
    type: str
    parent_id: int | None
    is_encrypted: bool
    size: int | None
    notes: str | None
    expire_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(
        cls, data: Any, *, method: str = "GET", endpoint: str = "(DRACOON node answer)"
    ) -> Node:
        """Parse one node; a wrong shape is a DracoonAnswerError naming ``endpoint``.

        Checked: the fields the service acts on (id, name, type, parent, encryption, size,
        notes) - a string size or a list as id must not turn into a traceback or a wrong
        comparison later.
        """
        data = answer_object(data, method, endpoint, "a node")

        def typed(key: str, kinds: tuple[type, ...], default: Any = None) -> Any:
            value = data.get(key, default)
            if value is None or (
                isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
            ):
                return value
            raise DracoonAnswerError(method, endpoint, 200, f"node field {key!r} is {_kind(value)}")

        node_id = answer_int(data.get("id"), method, endpoint, "node field 'id'")
        size = typed("size", (int,))
        if size is not None and size < 0:
            raise DracoonAnswerError(method, endpoint, 200, "node field 'size' is negative")
        return cls(
            id=int(node_id),  # type: ignore[arg-type]
            name=typed("name", (str,)) or "",
            type=typed("type", (str,)) or "",
            parent_id=typed("parentId", (int,)) or None,
            is_encrypted=bool(typed("isEncrypted", (bool,), False)),
            size=size,
            notes=typed("notes", (str,)),
            expire_at=parse_datetime(data.get("expireAt")),
            raw=data,
        )


@dataclass(frozen=True)
class ServerCapabilities:
    """What the server supports, detected once per client.

    ``s3_direct_upload``: the tenant stores on S3 (``useS3Storage``), so uploads go straight to
    presigned S3 URLs. ``s3_enforce_direct_upload``: classic uploads are refused.
    """

    api_version: str
    s3_direct_upload: bool
    s3_enforce_direct_upload: bool
    crypto_enabled: bool


@dataclass(frozen=True)
class FailedKey:
    """One (user, file) pair whose file key could not be set, and why."""

    user_id: int | None
    file_id: int | None
    reason: str


@dataclass
class KeyDistributionReport:
    """Result of :meth:`DracoonClient.distribute_missing_keys`."""

    keys_set: int = 0
    failed: list[FailedKey] = field(default_factory=list)
