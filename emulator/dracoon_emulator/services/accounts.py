"""The caller's own account: its profile, whether it manages a room, and its key pairs.

Deleting a key pair also drops the user's file keys of that version (they are lost), which
is why key pairs are the backend's: it reaches into every node's keys.
"""

from __future__ import annotations

from ..errors import ApiError, no_key_pair
from ..model import FILE_KEY_VERSION_FOR, KEY_PAIR_VERSIONS, ROOM, User, now_iso
from ..permissions import effective
from ..state import State


class Accounts:
    def __init__(self, state: State) -> None:
        self._state = state

    def manages_a_room(self, user: User) -> bool:
        state = self._state
        with state.lock:
            return any(
                node.type == ROOM and "manage" in effective(state, node, user.id)
                for node in state.nodes.values()
            )

    def update(self, user: User, changes: dict[str, str]) -> None:
        """Change profile fields (attribute -> value); a taken login is 409 -70564."""
        with self._state.lock:
            if "login" in changes:
                other = self._state.user_by_login(changes["login"])
                if other is not None and other.id != user.id:
                    raise ApiError(409, -70564, f"userName {changes['login']!r} is taken")
            for attr, value in changes.items():
                setattr(user, attr, value)

    def key_pair(self, user: User, version: str | None) -> dict:
        """The key pair of ``version``, else the preferred one (404 -70020 without one)."""
        with self._state.lock:
            versions = [version] if version else list(KEY_PAIR_VERSIONS)
            for candidate in versions:
                if candidate in user.key_pairs:
                    return user.key_pairs[candidate]
        raise no_key_pair()

    def key_pairs(self, user: User) -> list[dict]:
        with self._state.lock:
            return [user.key_pairs[v] for v in KEY_PAIR_VERSIONS if v in user.key_pairs]

    def set_key_pair(self, user: User, container: dict) -> None:
        """Keep a checked key pair container; one per version (409 -70021)."""
        version = container["publicKeyContainer"]["version"]
        with self._state.lock:
            if version in user.key_pairs:
                raise ApiError(409, -70021, f"A key pair of version {version} is already set")
            created = now_iso()
            for part in container.values():
                part.setdefault("createdAt", created)
                part.setdefault("createdBy", user.id)
            user.key_pairs[version] = container

    def delete_key_pair(self, user: User, version: str | None) -> None:
        """Delete a key pair (``version``, or the only one) and the file keys it opened."""
        with self._state.lock:
            if version is None:
                if len(user.key_pairs) > 1:
                    raise ApiError(400, -80000, "User has several key pairs: give ?version=")
                version = next(iter(user.key_pairs), None)
            if version is None or version not in user.key_pairs:
                raise no_key_pair()
            del user.key_pairs[version]
            file_key_version = FILE_KEY_VERSION_FOR[version]
            for node in self._state.nodes.values():
                keys = node.file_keys.get(user.id)
                if keys and keys.pop(file_key_version, None) is not None and not keys:
                    del node.file_keys[user.id]
