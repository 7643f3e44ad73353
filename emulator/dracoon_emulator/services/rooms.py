"""Rooms: creating them, their encryption and their users' grants.

The room and permission rules themselves (names, inheritance, a sub-room's encryption,
granting) are written once in rules.py, which the seed loader uses too; this service adds
what only the API asks: who may create or manage a room, and the room user listing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bodies import body_int
from ..errors import ApiError, missing_field, room_not_found, user_not_found
from ..model import PERMISSIONS, ROOM, Node, User, now_iso
from ..permissions import direct_grants, effective, inherited_grants, is_visible
from ..rules import grant, new_room, room_inheritance
from ..seed import Settings
from ..state import State


@dataclass(frozen=True)
class RoomRequest:
    """What ``POST /nodes/rooms`` asks for, shape-checked by the handler."""

    name: str
    parent_id: int | None
    admin_ids: list[int]
    inherit: bool | None
    quota: int | None
    classification: int
    notes: str | None
    timestamp_creation: str | None
    timestamp_modification: str | None


@dataclass(frozen=True)
class RoomMember:
    """A user with permissions on a room (direct, or effective with inherited ones)."""

    user: User
    permissions: set[str]


class Rooms:
    def __init__(self, state: State, settings: Settings) -> None:
        self._state = state
        self._settings = settings

    def _room(self, room_id: int, user: User) -> Node:
        state = self._state
        room = state.nodes.get(room_id)
        if room is None or room.type != ROOM or not is_visible(state, room, user.id):
            raise room_not_found(room_id)
        return room

    def _require_manage(self, room: Node, user: User, action: str) -> None:
        if "manage" not in effective(self._state, room, user.id):
            raise ApiError(403, None, f"User is not an admin of room {room.id} and cannot {action}")

    def create(self, user: User, wanted: RoomRequest) -> Node:
        """A top-level room (ROOM_MANAGER role) or a sub-room of a room the user manages."""
        state = self._state
        admin_ids = wanted.admin_ids
        with state.lock:
            parent = None
            if wanted.parent_id:  # null, missing (and, leniently, 0) create a top-level room
                parent = self._room(wanted.parent_id, user)
                self._require_manage(parent, user, "create sub-rooms")
            elif "ROOM_MANAGER" not in user.roles:
                raise ApiError(403, None, "Creating a top-level room needs the ROOM_MANAGER role")
            inherit = room_inheritance(parent, wanted.inherit)
            if not inherit and not admin_ids:
                if parent is not None:
                    raise ApiError(
                        400,
                        -40006,
                        "A room without inherited permissions needs at least one adminIds",
                    )
                # A top-level room without adminIds: its creator (a ROOM_MANAGER) becomes its
                # admin, which the official SDK's workflows rely on.
                admin_ids = [user.id]
            for admin_id in admin_ids:
                if admin_id not in state.users:
                    raise user_not_found(admin_id)
            room = new_room(
                state,
                wanted.name,
                parent,
                created_by=user.id,
                inherit=inherit,
                quota=wanted.quota,
                classification=wanted.classification,
                notes=wanted.notes,
                timestamp_creation=wanted.timestamp_creation,
                timestamp_modification=wanted.timestamp_modification,
            )
            for admin_id in admin_ids:
                grant(room, admin_id, PERMISSIONS)
            return room

    def set_encryption(self, user: User, room_id: int, encrypted: bool) -> Node:
        """(Un)encrypt an empty top-level room the user manages."""
        state = self._state
        with state.lock:
            room = self._room(room_id, user)
            self._require_manage(room, user, "change its encryption")
            if room.encrypted != encrypted:
                if room.parent_id is not None:
                    raise ApiError(
                        400,
                        -40004,
                        "Only top-level rooms can be (un)encrypted; sub-rooms inherit it",
                    )
                if not self._settings.crypto_enabled:
                    raise ApiError(412, None, "Encryption is not enabled on this system")
                if state.children(room.id):
                    raise ApiError(
                        400,
                        -40008 if encrypted else -40003,
                        "Only an empty room (no files, folders or sub-rooms) can change encryption",
                    )
                room.encrypted = encrypted
                room.updated_at, room.updated_by = now_iso(), user.id
            return room

    def members(self, user: User, room_id: int, *, effective_grants: bool) -> list[RoomMember]:
        """The room's users by id: direct grants, or effective ones (with inherited)."""
        state = self._state
        with state.lock:
            room = self._room(room_id, user)
            if not effective(state, room, user.id):
                raise ApiError(403, None, f"User has no permissions on room {room.id}")
            grants = inherited_grants(state, room) if effective_grants else direct_grants(room)
            found = []
            for user_id in sorted(grants):
                member = state.users.get(user_id)
                if member is not None and grants[user_id]:
                    found.append(RoomMember(member, grants[user_id]))
            return found

    def grant_users(self, user: User, room_id: int, items: list) -> None:
        """Set users' direct permissions (``items``: {id, permissions}); all or none."""
        state = self._state
        with state.lock:
            room = self._room(room_id, user)
            self._require_manage(room, user, "change its users")
            changes: dict[int, list[str]] = {}
            for item in items:
                if not isinstance(item, dict):
                    raise ApiError(400, -80000, "items must be objects {id, permissions}")
                user_id = body_int(item, "id")
                perms = item.get("permissions")
                if not isinstance(perms, dict):
                    raise missing_field("permissions")
                if user_id not in state.users:
                    raise user_not_found(user_id)
                assert user_id is not None
                changes[user_id] = [name for name, granted in perms.items() if granted is True]
            for user_id, perms in changes.items():
                grant(room, user_id, perms)

    def revoke_users(self, user: User, room_id: int, user_ids: list[int]) -> None:
        state = self._state
        with state.lock:
            room = self._room(room_id, user)
            self._require_manage(room, user, "change its users")
            for user_id in user_ids:
                room.members.pop(user_id, None)  # their file keys stay stored, as on DRACOON
