"""Room and permission rules, written once: the seed loader and the API create rooms and grant
permissions through these functions, so a seeded room obeys exactly what a room created over
HTTP does. They change ``State`` and raise ``ApiError`` with DRACOON's codes; the seed loader
turns those into ``SeedError`` naming the seed entry.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ApiError
from .model import PERMISSIONS, ROOM, Node, now_iso
from .names import check_name
from .state import State


def ordered_permissions(names: Iterable[str]) -> list[str]:
    """The known permission names among ``names``, in DRACOON's order."""
    wanted = set(names)
    return [p for p in PERMISSIONS if p in wanted]


def room_inheritance(parent: Node | None, inherit: bool | None) -> bool:
    """Whether a new room inherits its parent's permissions: a top-level room cannot (400
    -40017); a sub-room does unless told not to."""
    if parent is None and inherit:
        raise ApiError(
            400, -40017, "Inheritance of permissions cannot be enabled for top level rooms"
        )
    return parent is not None if inherit is None else inherit


def new_room(
    state: State,
    name: str,
    parent: Node | None,
    *,
    created_by: int,
    encrypted: bool | None = None,
    inherit: bool | None = None,
    quota: int | None = None,
    classification: int = 2,
    notes: str | None = None,
    timestamp_creation: str | None = None,
    timestamp_modification: str | None = None,
) -> Node:
    """Create a room named ``name`` under ``parent`` (None: top level); the caller holds the lock.

    Rules: a valid node name; no sibling of the same name (case-insensitive, 409 -41001); a
    top-level room cannot inherit permissions (400 -40017), a sub-room inherits unless told
    not to; a sub-room has its parent's encryption (only top-level rooms choose it).
    """
    name = check_name(name)
    inherit = room_inheritance(parent, inherit)
    if parent is not None:
        if encrypted is not None and encrypted != parent.encrypted:
            raise ApiError(
                400,
                -40004,
                f"Sub-room {name!r} must have its parent's encryption "
                f"(encrypted={parent.encrypted}); sub-rooms inherit it",
            )
        encrypted = parent.encrypted
    if state.child_named(parent.id if parent else None, name) is not None:
        raise ApiError(409, -41001, f"A node named {name!r} already exists here")
    room = Node(
        id=state.new_node_id(),
        type=ROOM,
        name=name,
        parent_id=parent.id if parent else None,
        created_at=now_iso(),
        created_by=created_by,
        encrypted=bool(encrypted),
        inherit_permissions=inherit,
        quota=quota,
        classification=classification,
        notes=notes,
        timestamp_creation=timestamp_creation,
        timestamp_modification=timestamp_modification,
    )
    room.reference_id = room.id
    state.nodes[room.id] = room
    return room


def grant(room: Node, user_id: int, permissions: Iterable[str]) -> None:
    """Set a user's direct permissions on a room; none at all removes the user from it."""
    granted = ordered_permissions(permissions)
    if granted:
        room.members[user_id] = granted
    else:
        room.members.pop(user_id, None)
