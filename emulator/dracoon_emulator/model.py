"""The emulator's data: users, nodes, upload channels, tokens. Plain dataclasses, so the
whole state can be written to and read back from one JSON document (``--state``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PERMISSIONS = (
    "manage",
    "read",
    "create",
    "change",
    "delete",
    "manageDownloadShare",
    "manageUploadShare",
    "readRecycleBin",
    "restoreRecycleBin",
    "deleteRecycleBin",
)
# Users with one of these on a file's room may hold its file key (missing keys, user_file_key).
KEY_READER_PERMISSIONS = frozenset({"read", "manage", "manageDownloadShare"})

ROOM, FOLDER, FILE = "room", "folder", "file"

KEY_PAIR_VERSIONS = ("RSA-4096", "A")  # server preference order
FILE_KEY_VERSION_FOR = {"RSA-4096": "RSA-4096/AES-256-GCM", "A": "A"}
KEY_PAIR_VERSION_FOR = {v: k for k, v in FILE_KEY_VERSION_FOR.items()}

ROLE_IDS = {
    "CONFIG_MANAGER": 1,
    "USER_MANAGER": 2,
    "GROUP_MANAGER": 3,
    "ROOM_MANAGER": 4,
    "LOG_AUDITOR": 5,
    "NONMEMBER_VIEWER": 6,
    "USER": 7,
    "GUEST_USER": 8,
}


def now_iso() -> str:
    return iso(datetime.now(UTC))


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_datetime(value: str) -> datetime:
    """Parse an API datetime; one without a zone is UTC (the Python SDK sends those)."""
    moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


@dataclass
class User:
    id: int
    login: str
    password: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    roles: list[str] = field(default_factory=list)
    key_pairs: dict[str, dict] = field(default_factory=dict)  # version -> container JSON
    phone: str = ""
    language: str = "en"
    favorites: list[int] = field(default_factory=list)  # node ids, in the order marked


@dataclass
class Node:
    id: int
    type: str
    name: str
    parent_id: int | None
    created_at: str
    created_by: int
    reference_id: int = 0
    updated_at: str | None = None
    updated_by: int | None = None
    encrypted: bool = False  # rooms only; folders and files take their room's flag
    inherit_permissions: bool = False
    members: dict[int, list[str]] = field(default_factory=dict)  # rooms: user id -> grants
    quota: int | None = None
    classification: int = 2
    notes: str | None = None
    expire_at: str | None = None
    timestamp_creation: str | None = None
    timestamp_modification: str | None = None
    blob_id: str | None = None  # files
    size: int = 0
    sha256: str | None = None
    md5: str | None = None  # reported as ``hash`` (DRACOON: "MD5 hash of file")
    file_keys: dict[int, dict[str, dict]] = field(default_factory=dict)  # user -> version -> key


@dataclass
class RecycledNode:
    """A file or folder in its room's recycle bin: the node as it was, plus (folders) the
    subtree deleted with it, so a restore brings everything back under the same ids."""

    node: Node
    room_id: int
    parent_path: str
    deleted_at: str
    deleted_by: int
    subtree: list[Node] = field(default_factory=list)


@dataclass
class Comment:
    id: int
    node_id: int
    text: str
    created_at: str
    created_by: int
    updated_at: str
    updated_by: int
    is_changed: bool = False
    is_deleted: bool = False


@dataclass
class Upload:
    id: str
    token: str
    user_id: int
    parent_id: int
    name: str
    direct_s3: bool
    created_at: str
    notes: str | None = None
    expire_at: str | None = None
    classification: int | None = None
    timestamp_creation: str | None = None
    timestamp_modification: str | None = None
    status: str = "transfer"  # transfer | finishing | done | error | cancelled
    blob_id: str | None = None
    s3_sizes: dict[int, int] = field(default_factory=dict)  # part -> size its URL was signed for
    s3_parts: dict[int, dict] = field(default_factory=dict)  # part -> {blob, size, etag}
    node_id: int | None = None
    error: dict | None = None
    transfer_polls_left: int = 0  # seed knob s3_transfer_polls: polls still told "transfer"
    status_polls: int = 0  # GET /nodes/files/uploads/{id} answered (admin view)

    @property
    def open(self) -> bool:
        return self.status == "transfer"


@dataclass
class Token:
    value: str
    user_id: int
    client_id: str
    expires_at: float  # epoch seconds


@dataclass
class DownloadToken:
    value: str
    node_id: int
    expires_at: float


def to_json(obj: Any) -> Any:
    return dataclasses.asdict(obj)


def _int_keys(mapping: dict) -> dict:
    return {int(k): v for k, v in mapping.items()}


def user_from_json(d: dict) -> User:
    return User(**d)


def node_from_json(d: dict) -> Node:
    d = dict(d)
    d["members"] = _int_keys(d.get("members", {}))
    d["file_keys"] = _int_keys(d.get("file_keys", {}))
    return Node(**d)


def recycled_from_json(d: dict) -> RecycledNode:
    d = dict(d)
    d["node"] = node_from_json(d["node"])
    d["subtree"] = [node_from_json(n) for n in d.get("subtree", [])]
    return RecycledNode(**d)


def upload_from_json(d: dict) -> Upload:
    d = dict(d)
    d["s3_sizes"] = _int_keys(d.get("s3_sizes", {}))
    d["s3_parts"] = _int_keys(d.get("s3_parts", {}))
    return Upload(**d)
