"""The recycle bin: a room's deleted nodes, their versions, restoring and removing for good.

Permissions follow DRACOON's description: ``readRecycleBin`` to list, ``restoreRecycleBin``
plus ``create`` on the target to restore, ``deleteRecycleBin`` to remove. How a node gets
into the bin (and is purged) is recycle.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ApiError, forbidden, node_not_found, room_not_found
from ..model import FILE, ROOM, Node, RecycledNode, User
from ..names import autorename_candidates
from ..permissions import effective, is_visible
from ..recycle import move_to_bin, purge
from ..state import State
from ..storage import ContentStore


@dataclass(frozen=True)
class DeletedNode:
    """A recycle bin entry with what its answer shows: its room's encryption and the users
    who created, last changed and deleted it (None: a deleted user)."""

    entry: RecycledNode
    encrypted: bool
    created_by: User | None
    updated_by: User | None
    deleted_by: User | None


class RecycleBin:
    def __init__(self, state: State, store: ContentStore) -> None:
        self._state = state
        self._store = store

    def _room_with(self, room_id: int, user: User, permission: str) -> Node:
        state = self._state
        room = state.nodes.get(room_id)
        if room is None or not is_visible(state, room, user.id):
            raise node_not_found(room_id)
        if room.type != ROOM:
            raise room_not_found(room_id)  # 404 -40000: only rooms have a recycle bin
        if permission not in effective(state, room, user.id):
            raise ApiError(403, None, f"User has no '{permission}' permission on room {room_id}")
        return room

    def _entry(self, deleted_id: int, user: User, permission: str) -> RecycledNode:
        state = self._state
        entry = state.recycle_bin.get(deleted_id)
        room = state.nodes.get(entry.room_id) if entry else None
        if entry is None or room is None or not is_visible(state, room, user.id):
            raise node_not_found(deleted_id)
        if permission not in effective(state, room, user.id):
            raise ApiError(403, None, f"User has no '{permission}' permission on room {room.id}")
        return entry

    def _shown(self, entry: RecycledNode) -> DeletedNode:
        users, node = self._state.users, entry.node
        return DeletedNode(
            entry,
            self._state.nodes[entry.room_id].encrypted,
            users.get(node.created_by),
            users.get(node.updated_by or node.created_by),
            users.get(entry.deleted_by),
        )

    def groups(self, user: User, room_id: int, types: set[str] | None) -> list[list[RecycledNode]]:
        """The room's deleted nodes grouped by parent, name and type, each group oldest first."""
        with self._state.lock:
            room = self._room_with(room_id, user, "readRecycleBin")
            groups: dict[tuple, list[RecycledNode]] = {}
            for entry in self._state.recycle_bin.values():
                if entry.room_id != room.id or (types and entry.node.type not in types):
                    continue
                key = (entry.node.parent_id, entry.node.name.casefold(), entry.node.type)
                groups.setdefault(key, []).append(entry)
            for entries in groups.values():
                entries.sort(key=lambda e: (e.deleted_at, e.node.id))
            return list(groups.values())

    def versions(self, user: User, parent_id: int, kind: str, name: str) -> list[DeletedNode]:
        """The deleted versions of one name in one parent, oldest first."""
        state = self._state
        with state.lock:
            parent = state.nodes.get(parent_id)
            if parent is None or not is_visible(state, parent, user.id):
                raise node_not_found(parent_id)
            room = state.room_of(parent)
            if "readRecycleBin" not in effective(state, room, user.id):
                raise ApiError(
                    403, None, f"User has no 'readRecycleBin' permission on room {room.id}"
                )
            versions = sorted(
                (
                    e
                    for e in state.recycle_bin.values()
                    if e.node.parent_id == parent.id
                    and e.node.type == kind
                    and e.node.name.casefold() == name.casefold()
                ),
                key=lambda e: (e.deleted_at, e.node.id),
            )
            return [self._shown(e) for e in versions]

    def get(self, user: User, deleted_id: int) -> DeletedNode:
        with self._state.lock:
            return self._shown(self._entry(deleted_id, user, "readRecycleBin"))

    def restore(
        self, user: User, deleted_ids: list[int], resolution: str, target_id: int | None
    ) -> None:
        """Restore into the old parent (or ``target_id``): all checked first, then all done."""
        state = self._state
        with state.lock:
            entries = [self._entry(i, user, "restoreRecycleBin") for i in deleted_ids]
            plans = []
            for entry in entries:
                parent_id = target_id or entry.node.parent_id
                parent = state.nodes.get(parent_id) if parent_id is not None else None
                if parent is None or not is_visible(state, parent, user.id):
                    raise ApiError(
                        404,
                        -41000,
                        f"Parent {parent_id} of deleted node {entry.node.id} is gone; "
                        "restore with parentId",
                    )
                if parent.type == FILE:
                    raise ApiError(400, -80000, f"Restore target {parent.id} is a file")
                if state.is_encrypted(parent) != state.nodes[entry.room_id].encrypted:
                    raise ApiError(
                        400, -40001, "A node cannot be restored across an encryption boundary"
                    )
                if "create" not in effective(state, parent, user.id):
                    raise forbidden(
                        f"User has no 'create' permission on node {parent.id} to restore into it"
                    )
                plans.append((entry, parent))
            for entry, parent in plans:
                _restore_one(state, entry, parent, resolution, user)

    def remove(self, user: User, deleted_ids: list[int]) -> None:
        """Remove entries for good (all checked first)."""
        with self._state.lock:
            entries = [self._entry(i, user, "deleteRecycleBin") for i in deleted_ids]
            for entry in entries:
                purge(self._state, self._store, entry)

    def empty(self, user: User, room_id: int) -> None:
        """Remove a room's whole recycle bin for good."""
        state = self._state
        with state.lock:
            room = self._room_with(room_id, user, "deleteRecycleBin")
            for entry in [e for e in state.recycle_bin.values() if e.room_id == room.id]:
                purge(state, self._store, entry)


def _restore_one(state: State, entry: RecycledNode, parent, resolution: str, user: User) -> None:
    node = entry.node
    name = node.name
    existing = state.child_named(parent.id, name)
    if existing is not None:
        if resolution == "fail":
            raise ApiError(409, -41001, f"A node named {name!r} already exists in {parent.id}")
        if resolution == "overwrite" and existing.type == node.type == FILE:
            move_to_bin(state, existing, user.id)  # as the description says: swapped
        else:
            free = (c for c in autorename_candidates(name) if not state.child_named(parent.id, c))
            name = next(free)
    del state.recycle_bin[node.id]
    node.name, node.parent_id = name, parent.id
    for restored in [node, *entry.subtree]:
        state.nodes[restored.id] = restored
