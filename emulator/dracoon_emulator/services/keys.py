"""File keys: the caller's own key, who still misses one, and storing keys for others.

The server never sees a plain file key: it only stores and hands out the RSA-encrypted
copies, and works out *who* still needs one from the room's effective permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bodies import body_int
from ..errors import ApiError, file_not_found, forbidden, room_not_found, user_not_found
from ..files import validate_file_key
from ..model import (
    FILE,
    FILE_KEY_VERSION_FOR,
    KEY_PAIR_VERSION_FOR,
    KEY_PAIR_VERSIONS,
    KEY_READER_PERMISSIONS,
    ROOM,
    Node,
    User,
)
from ..permissions import effective, is_visible, key_readers
from ..state import State


@dataclass(frozen=True)
class MissingKeys:
    """One page of (user, file) pairs that miss a file key, with what it takes to fill them."""

    total: int
    pairs: list[tuple[int, int]]  # (user id, file id), the requested page
    users: list[dict]  # {id, publicKeyContainer} of the page's users
    files: list[dict]  # {id, fileKeyContainer}: the caller's keys of the page's files


class FileKeys:
    def __init__(self, state: State) -> None:
        self._state = state

    def _file(self, file_id: int, user: User) -> Node:
        state = self._state
        node = state.nodes.get(file_id)
        if node is None or node.type != FILE or not is_visible(state, node, user.id):
            raise file_not_found(file_id)
        return node

    def user_file_key(self, user: User, file_id: int, version: str | None) -> dict:
        """The caller's copy of a file's key (of ``version``, else the preferred one)."""
        state = self._state
        with state.lock:
            node = self._file(file_id, user)
            if not effective(state, node, user.id) & KEY_READER_PERMISSIONS:
                raise forbidden(f"User may not read file {node.id}")
            if not user.key_pairs:
                raise ApiError(403, -70020, "User has no key pair")
            keys = node.file_keys.get(user.id, {})
            wanted = [version] if version else [v for v in KEY_PAIR_VERSIONS if v in user.key_pairs]
            for pair_version in wanted:
                key = keys.get(FILE_KEY_VERSION_FOR[pair_version])
                if key is not None:
                    return key
        raise ApiError(404, -40761, f"User has no file key for file {node.id}")

    def _scope(self, user: User, file_id: int | None, room_id: int | None) -> list[Node]:
        state = self._state
        if file_id is not None:
            node = self._file(file_id, user)
            if not state.is_encrypted(node):
                raise ApiError(400, -40001, f"File {file_id} is not in an encrypted room")
            files = [node]
        elif room_id is not None:
            room = state.nodes.get(room_id)
            if room is None or room.type != ROOM or not is_visible(state, room, user.id):
                raise room_not_found(room_id)
            if not room.encrypted:
                raise ApiError(400, -40001, f"Room {room_id} is not encrypted")
            files = [n for n in state.descendants(room) if n.type == FILE]
        else:
            files = [n for n in state.nodes.values() if n.type == FILE and state.is_encrypted(n)]
        if room_id is not None and file_id is not None:
            files = [n for n in files if state.room_of(n).id == room_id]
        return sorted(files, key=lambda n: n.id)

    def missing(
        self,
        user: User,
        *,
        file_id: int | None,
        room_id: int | None,
        user_filter: int | None,
        use_key: bool,
        offset: int,
        limit: int,
    ) -> MissingKeys:
        """The pairs the caller could fill: files whose key the caller holds and may share,
        readers with a key pair and without a key of the file."""
        state = self._state
        with state.lock:
            if not user.key_pairs:
                raise ApiError(403, -70020, "Caller has no key pair")
            if user_filter is not None and user_filter not in state.users:
                raise user_not_found(user_filter)
            # No rescue keys exist in the emulator, so use_key lists nothing.
            files = [] if use_key else self._scope(user, file_id, room_id)
            pairs: list[tuple[int, int]] = []
            for node in files:
                if not _usable_keys(node, user):
                    continue
                if not effective(state, node, user.id) & KEY_READER_PERMISSIONS:
                    continue
                for reader_id in key_readers(state, node):
                    if user_filter is not None and reader_id != user_filter:
                        continue
                    reader = state.users.get(reader_id)
                    if reader is None or not reader.key_pairs or node.file_keys.get(reader_id):
                        continue
                    pairs.append((reader_id, node.id))
            chosen = pairs[offset : offset + limit]
            users_json = []
            for reader_id in dict.fromkeys(uid for uid, _ in chosen):
                reader = state.users[reader_id]
                for version in KEY_PAIR_VERSIONS:
                    if version in reader.key_pairs:
                        users_json.append(
                            {"id": reader_id, "publicKeyContainer": _public(reader, version)}
                        )
            files_json = []
            for chosen_file in dict.fromkeys(fid for _, fid in chosen):
                for key in _usable_keys(state.nodes[chosen_file], user).values():
                    files_json.append({"id": chosen_file, "fileKeyContainer": key})
        return MissingKeys(len(pairs), chosen, users_json, files_json)

    def set_keys(self, user: User, items: list) -> None:
        """Store keys for others: all items are checked first, then all are stored (a key a
        user already has is kept)."""
        state = self._state
        with state.lock:
            accepted = []
            for item in items:
                if not isinstance(item, dict):
                    raise ApiError(400, -80000, "items must be objects {fileId, userId, fileKey}")
                file_id = body_int(item, "fileId")
                user_id = body_int(item, "userId")
                assert file_id is not None and user_id is not None
                file_key = validate_file_key(item.get("fileKey"))
                node = self._file(file_id, user)
                if not state.is_encrypted(node):
                    raise ApiError(400, -40001, f"File {file_id} is not in an encrypted room")
                if not _usable_keys(node, user):
                    raise ApiError(403, -40761, f"Caller has no file key for file {file_id}")
                target = state.users.get(user_id)
                if target is None:
                    raise user_not_found(user_id)
                if KEY_PAIR_VERSION_FOR[file_key["version"]] not in target.key_pairs:
                    raise ApiError(
                        400, -70020, f"User {user_id} has no key pair for {file_key['version']}"
                    )
                if not effective(state, node, user_id) & KEY_READER_PERMISSIONS:
                    raise forbidden(f"User {user_id} has no read permission on file {file_id}")
                accepted.append((node, user_id, file_key))
            for node, user_id, file_key in accepted:
                keys = node.file_keys.setdefault(user_id, {})
                keys.setdefault(file_key["version"], file_key)  # existing keys are kept


def _usable_keys(node: Node, user: User) -> dict[str, dict]:
    """The user's copies of the file key that one of their key pairs can open."""
    keys = node.file_keys.get(user.id, {})
    return {v: k for v, k in keys.items() if KEY_PAIR_VERSION_FOR.get(v) in user.key_pairs}


def _public(user: User, version: str) -> dict:
    container = user.key_pairs[version]["publicKeyContainer"]
    return {k: container[k] for k in ("version", "publicKey", "createdAt") if k in container}
