"""Copying and moving files and folders to another room or folder (``copy_to`` / ``move_to``).

Rules from DRACOON's description: rooms cannot be copied or moved; all nodes of one request
come from the same parent; copying needs ``read`` at the source and ``create`` at the
target, moving also ``delete`` at the source. Name clashes follow ``resolutionStrategy``
(autorename by default, overwrite sends the old file to the recycle bin, fail is 409).

A copy gets its own content blob and, in encrypted rooms, the same file keys: the bytes
are the same ciphertext, so every key holder can still decrypt them. Nodes never cross an
encryption boundary (that would need re-encryption on the client).
"""

from __future__ import annotations

import copy

from ..errors import ApiError, forbidden, node_not_found
from ..model import FILE, ROOM, Node, User, iso, now_iso, parse_datetime
from ..names import autorename_candidates
from ..permissions import effective, is_visible
from ..recycle import move_to_bin
from ..state import State
from ..storage import ContentStore


class Transfers:
    def __init__(self, state: State, store: ContentStore) -> None:
        self._state = state
        self._store = store

    def copy(self, user: User, target_id: int, items: list[dict], resolution: str) -> Node:
        """Copy the items' nodes into ``target_id``: the target (``read`` at the sources)."""
        state = self._state
        with state.lock:
            target, sources = self._prepare(user, target_id, items, ("read",))
            if any(target.id == n.id or target in state.descendants(n) for n, _ in sources):
                raise ApiError(409, -41304, "A folder cannot be copied into itself")
            for node, item in sources:
                name = _place(
                    state, target, item.get("name") or node.name, node.type, resolution, user
                )
                clone = _clone(state, self._store, node, target.id, user)
                clone.name = name
                _timestamps(clone, item)
            return target

    def move(self, user: User, target_id: int, items: list[dict], resolution: str) -> Node:
        """Move the items' nodes into ``target_id`` (``read`` and ``delete`` at the sources)."""
        state = self._state
        with state.lock:
            target, sources = self._prepare(user, target_id, items, ("read", "delete"))
            for node, _ in sources:
                if target.id == node.id or target in state.descendants(node):
                    raise ApiError(409, -41304, "A folder cannot be moved into itself")
            for node, item in sources:
                if node.parent_id == target.id and not item.get("name"):
                    continue  # already there
                name = _place(
                    state, target, item.get("name") or node.name, node.type, resolution, user
                )
                node.name, node.parent_id = name, target.id
                node.updated_at, node.updated_by = now_iso(), user.id
                _timestamps(node, item)
            return target

    def _prepare(
        self, user: User, target_id: int, items: list[dict], permissions: tuple[str, ...]
    ) -> tuple[Node, list[tuple[Node, dict]]]:
        state = self._state
        target = state.nodes.get(target_id)
        if target is None or not is_visible(state, target, user.id):
            raise node_not_found(target_id)
        if target.type == FILE:
            raise ApiError(400, -80000, f"Target {target.id} is a file; choose a room or folder")
        _require(state, target, user, "create", "copy or move nodes into it")
        sources: list[tuple[Node, dict]] = []
        for item in items:
            node = state.nodes.get(item["id"])
            if node is None or not is_visible(state, node, user.id):
                raise node_not_found(item["id"])
            if node.type == ROOM:
                raise ApiError(400, -41052, f"Room {node.id} cannot be copied or moved")
            for permission in permissions:
                _require(state, node, user, permission, "copy or move it")
            if state.is_encrypted(node) != state.is_encrypted(target):
                raise ApiError(
                    400, -40001, "Nodes cannot be copied or moved across an encryption boundary"
                )
            sources.append((node, item))
        if len({node.parent_id for node, _ in sources}) > 1:
            raise ApiError(400, -80000, "All nodes of one copy or move must be in the same parent")
        return target, sources


def _require(state: State, node: Node, user: User, permission: str, action: str) -> None:
    if permission not in effective(state, node, user.id):
        raise forbidden(f"User has no '{permission}' permission on node {node.id} to {action}")


def _place(state: State, target: Node, name: str, kind: str, resolution: str, user: User) -> str:
    """The name the node gets in ``target``; clears the way for an overwrite."""
    existing = state.child_named(target.id, name)
    if existing is None:
        return name
    if resolution == "fail":
        raise ApiError(409, -41001, f"A node named {name!r} already exists in {target.id}")
    if resolution == "overwrite" and existing.type == kind == FILE:
        move_to_bin(state, existing, user.id)
        return name
    if resolution == "overwrite":
        raise ApiError(409, -40010, f"{name!r} is a {existing.type}; it cannot be overwritten")
    return next(c for c in autorename_candidates(name) if not state.child_named(target.id, c))


def _timestamps(node: Node, item: dict) -> None:
    for field, attr in (
        ("timestampCreation", "timestamp_creation"),
        ("timestampModification", "timestamp_modification"),
    ):
        if item.get(field) is not None:
            try:
                setattr(node, attr, iso(parse_datetime(item[field])))
            except (TypeError, ValueError, AttributeError):
                raise ApiError(400, -80000, f"{field} is not an ISO-8601 date") from None


def _clone(state: State, store: ContentStore, node: Node, parent_id: int, user: User) -> Node:
    clone = copy.deepcopy(node)
    clone.id = state.new_node_id()
    clone.reference_id = clone.id
    clone.parent_id = parent_id
    clone.created_at, clone.created_by = now_iso(), user.id
    clone.updated_at = clone.updated_by = None
    if node.blob_id:
        clone.blob_id = store.create()
        store.concat(clone.blob_id, [node.blob_id])
        store.finish(clone.blob_id)
    state.nodes[clone.id] = clone
    for child in state.children(node.id):
        _clone(state, store, child, clone.id, user)
    return clone
