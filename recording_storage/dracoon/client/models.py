"""Plain data the client returns: nodes, server capabilities, key distribution reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


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
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> Node:
        return cls(
            id=int(data["id"]),
            name=str(data.get("name", "")),
            type=str(data.get("type", "")),
            parent_id=data.get("parentId") or None,
            is_encrypted=bool(data.get("isEncrypted", False)),
            size=data.get("size"),
            notes=data.get("notes"),
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
