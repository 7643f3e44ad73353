"""Effective node permissions: direct room grants plus grants inherited from parent rooms.

Folders and files have no grants of their own; they use their room's. A room with
``inherit_permissions`` adds everything its parent room grants.
"""

from __future__ import annotations

from .model import KEY_READER_PERMISSIONS, ROOM, Node
from .state import State


def room_permissions(state: State, room: Node, user_id: int) -> set[str]:
    perms = set(room.members.get(user_id, ()))
    if room.inherit_permissions and room.parent_id is not None:
        perms |= room_permissions(state, state.nodes[room.parent_id], user_id)
    return perms


def effective(state: State, node: Node, user_id: int) -> set[str]:
    return room_permissions(state, state.room_of(node), user_id)


def is_visible(state: State, node: Node, user_id: int) -> bool:
    """A node is visible with any permission on it, or (rooms) when a sub-room is."""
    if effective(state, node, user_id):
        return True
    if node.type != ROOM:
        return False
    return any(
        child.type == ROOM and is_visible(state, child, user_id)
        for child in state.children(node.id)
    )


def direct_grants(room: Node) -> dict[int, set[str]]:
    return {user_id: set(perms) for user_id, perms in room.members.items()}


def inherited_grants(state: State, room: Node) -> dict[int, set[str]]:
    """Every user's effective permissions on a room (direct + inherited)."""
    grants: dict[int, set[str]] = {}
    current: Node | None = room
    while current is not None:
        for user_id, perms in current.members.items():
            grants.setdefault(user_id, set()).update(perms)
        if not current.inherit_permissions or current.parent_id is None:
            break
        current = state.nodes[current.parent_id]
    return grants


def key_readers(state: State, node: Node) -> list[int]:
    """Users entitled to a file key of ``node`` (read, manage or manageDownloadShare)."""
    grants = inherited_grants(state, state.room_of(node))
    return sorted(uid for uid, perms in grants.items() if perms & KEY_READER_PERMISSIONS)
