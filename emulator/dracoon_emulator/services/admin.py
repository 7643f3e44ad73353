"""What the emulator's own admin API (``/emulator/``) does to the state: users, rooms and
members added at runtime through the seed loader's rules, and views for tests to inspect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ApiError, room_not_found
from ..model import ROOM, Node, Upload, User
from ..rules import grant
from ..seed import add_room, add_user, parse_permissions
from ..state import State


@dataclass(frozen=True)
class NodeOnDisk:
    """A node with its path and encryption, as the admin listing shows every node."""

    node: Node
    path: str
    encrypted: bool


class Admin:
    def __init__(self, state: State) -> None:
        self._state = state

    def add_user(self, spec: Any) -> User:
        """A seed ``users`` entry (key pairs already generated); SeedError names a bad key."""
        with self._state.lock:
            return add_user(self._state, spec)

    def add_room(self, spec: Any) -> Node:
        """A seed ``rooms`` entry (and missing parent rooms); SeedError names a bad key."""
        with self._state.lock:
            return add_room(self._state, spec)

    def set_member(self, room_id: int, login: object, permissions: Any) -> None:
        """Grant a user (by login) permissions on a room (none: remove the user from it);
        ``permissions`` as in a seed (SeedError names a bad one)."""
        state = self._state
        with state.lock:
            room = state.nodes.get(room_id)
            if room is None or room.type != ROOM:
                raise room_not_found(room_id)
            user = state.user_by_login(login) if isinstance(login, str) else None
            if user is None:
                raise ApiError(404, -70501, f"Unknown login {login!r}")
            grant(room, user.id, parse_permissions(permissions, "permissions"))

    def users(self) -> list[User]:
        with self._state.lock:
            return list(self._state.users.values())

    def nodes(self) -> list[NodeOnDisk]:
        state = self._state
        with state.lock:
            return [
                NodeOnDisk(n, state.parent_path(n) + n.name, state.is_encrypted(n))
                for n in sorted(state.nodes.values(), key=lambda n: n.id)
            ]

    def uploads(self) -> list[Upload]:
        with self._state.lock:
            return list(self._state.uploads.values())
