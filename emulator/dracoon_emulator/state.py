"""The emulator's in-memory state, its lock and its persistence to ``state.json``.

One re-entrant lock guards the whole model: requests are short apart from streaming content,
which happens outside the lock, so a single lock keeps the rules simple and race-free.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .model import (
    FOLDER,
    ROOM,
    Comment,
    DownloadToken,
    Node,
    RecycledNode,
    Token,
    Upload,
    User,
    node_from_json,
    recycled_from_json,
    to_json,
    upload_from_json,
    user_from_json,
)

SNAPSHOT_VERSION = 1
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
# User ids count from 1 and node ids from 1000, so the two ranges do not overlap while the
# emulator is small: a client that sends a user id where a node id belongs (or the other way
# round) gets a 404 instead of silently hitting the wrong object.
FIRST_USER_ID = 1
FIRST_NODE_ID = 1000


class State:
    def __init__(self, snapshot_path: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.snapshot_path = snapshot_path
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.users: dict[int, User] = {}
            self.nodes: dict[int, Node] = {}
            self.uploads: dict[str, Upload] = {}
            self.upload_tokens: dict[str, str] = {}  # token -> upload id
            self.access_tokens: dict[str, Token] = {}
            self.refresh_tokens: dict[str, Token] = {}
            self.download_tokens: dict[str, DownloadToken] = {}
            self.recycle_bin: dict[int, RecycledNode] = {}  # deleted node id -> entry
            self.comments: dict[int, Comment] = {}
            self.next_user_id = FIRST_USER_ID
            self.next_node_id = FIRST_NODE_ID
            self.next_comment_id = 1

    # ids -------------------------------------------------------------------------------
    def new_user_id(self) -> int:
        with self.lock:
            self.next_user_id += 1
            return self.next_user_id - 1

    def new_comment_id(self) -> int:
        with self.lock:
            self.next_comment_id += 1
            return self.next_comment_id - 1

    def new_node_id(self) -> int:
        with self.lock:
            self.next_node_id += 1
            return self.next_node_id - 1

    # lookups -----------------------------------------------------------------------------
    def user_by_login(self, login: str) -> User | None:
        wanted = login.casefold()
        for user in self.users.values():
            if user.login.casefold() == wanted:
                return user
        return None

    def children(self, parent_id: int | None) -> list[Node]:
        return [node for node in self.nodes.values() if node.parent_id == parent_id]

    def child_named(self, parent_id: int | None, name: str) -> Node | None:
        """Name conflicts are case-insensitive, as on DRACOON."""
        wanted = name.casefold()
        for node in self.children(parent_id):
            if node.name.casefold() == wanted:
                return node
        return None

    def ancestors(self, node: Node) -> list[Node]:
        """The node's ancestors, root first (what ``/nodes/{id}/parents`` returns)."""
        chain = []
        current = node
        while current.parent_id is not None:
            current = self.nodes[current.parent_id]
            chain.append(current)
        chain.reverse()
        return chain

    def descendants(self, node: Node) -> list[Node]:
        found = []
        pending = [node.id]
        while pending:
            parent = pending.pop()
            for child in self.children(parent):
                found.append(child)
                pending.append(child.id)
        return found

    def parent_path(self, node: Node) -> str:
        """``/`` for a top-level room, ``/Room/Sub/`` for a node inside ``Room/Sub``."""
        names = [a.name for a in self.ancestors(node)]
        return "/" + "".join(name + "/" for name in names)

    def room_of(self, node: Node) -> Node:
        """The node itself when it is a room, else its nearest room ancestor."""
        current = node
        while current.type != ROOM:
            current = self.nodes[current.parent_id]  # folders and files always have a parent
        return current

    def is_encrypted(self, node: Node) -> bool:
        return self.room_of(node).encrypted

    def depth(self, node: Node) -> int:
        return len(self.ancestors(node))

    def is_container(self, node: Node) -> bool:
        return node.type in (ROOM, FOLDER)

    def upload_by_token(self, token: str) -> Upload | None:
        upload_id = self.upload_tokens.get(token)
        return self.uploads.get(upload_id) if upload_id else None

    # persistence -------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """The whole state as JSON-ready dicts (what ``state.json`` holds)."""
        return self._snapshot(to_json)

    def _snapshot(self, convert: Callable[[Any], Any]) -> dict:
        with self.lock:
            return {
                "version": SNAPSHOT_VERSION,
                "next_user_id": self.next_user_id,
                "next_node_id": self.next_node_id,
                "users": [convert(u) for u in self.users.values()],
                "nodes": [convert(n) for n in self.nodes.values()],
                "uploads": [convert(u) for u in self.uploads.values()],
                "access_tokens": [convert(t) for t in self.access_tokens.values()],
                "refresh_tokens": [convert(t) for t in self.refresh_tokens.values()],
                "download_tokens": [convert(t) for t in self.download_tokens.values()],
                "recycle_bin": [convert(r) for r in self.recycle_bin.values()],
                "comments": [convert(c) for c in self.comments.values()],
                "next_comment_id": self.next_comment_id,
            }

    def restore(self, data: dict) -> None:
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"state snapshot version {data.get('version')!r} is not supported")
        with self.lock:
            self.clear()
            self.next_user_id = data["next_user_id"]
            self.next_node_id = data["next_node_id"]
            for item in data["users"]:
                user = user_from_json(item)
                self.users[user.id] = user
            for item in data["nodes"]:
                node = node_from_json(item)
                self.nodes[node.id] = node
            for item in data["uploads"]:
                upload = upload_from_json(item)
                self.uploads[upload.id] = upload
                self.upload_tokens[upload.token] = upload.id
            for item in data["access_tokens"]:
                self.access_tokens[item["value"]] = Token(**item)
            for item in data["refresh_tokens"]:
                self.refresh_tokens[item["value"]] = Token(**item)
            for item in data["download_tokens"]:
                self.download_tokens[item["value"]] = DownloadToken(**item)
            # Snapshots written before the recycle bin and comments existed have neither.
            for item in data.get("recycle_bin", []):
                entry = recycled_from_json(item)
                self.recycle_bin[entry.node.id] = entry
            for item in data.get("comments", []):
                self.comments[item["id"]] = Comment(**item)
            self.next_comment_id = data.get("next_comment_id", 1)

    def save(self) -> None:
        """Write the snapshot atomically (temp file + rename) when persistence is on; one
        caller at a time (persistence.SnapshotWriter serialises them)."""
        if self.snapshot_path is None:
            return
        with self.lock:
            # The same text as dumping snapshot(), without dataclasses.asdict's deep copy of
            # every value: the encoder asks _fields for each model object it meets. Only the
            # encoding needs the lock (the objects change under requests), not the disk.
            data = json.dumps(self._snapshot(_same), separators=(",", ":"), default=_fields)
        temp = self.snapshot_path.with_suffix(".tmp")
        temp.write_text(data, encoding="utf-8")
        os.replace(temp, self.snapshot_path)

    def load_saved(self) -> bool:
        """Load ``state.json`` if present; True when state was restored."""
        if self.snapshot_path is None or not self.snapshot_path.exists():
            return False
        self.restore(json.loads(self.snapshot_path.read_text(encoding="utf-8")))
        return True


def _same(obj: Any) -> Any:
    return obj


def _fields(obj: Any) -> dict:
    """A model dataclass as the dict of its fields (json.dumps' ``default``)."""
    kind = type(obj)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if not dataclasses.is_dataclass(obj):
            raise TypeError(f"{kind.__name__} is not JSON serializable")
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(obj))
    return {name: getattr(obj, name) for name in names}
