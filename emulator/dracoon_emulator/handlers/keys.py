"""File keys: the caller's own key, the missing-keys list and storing keys for others.

The server never sees a plain file key: it only stores and hands out the RSA-encrypted
copies, and works out *who* still needs one from the room's effective permissions.
"""

from __future__ import annotations

from ..backend import Backend
from ..errors import (
    ApiError,
    file_not_found,
    forbidden,
    room_not_found,
    user_not_found,
)
from ..files import validate_file_key
from ..messages import Request, Response, no_content
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
from ..routing import Router
from ..state import State
from .common import body_int, body_list, paging, query_int

V4 = "/api/v4"
MISSING_KEYS_LIMIT = 100


def _file(state: State, file_id: int, user: User) -> Node:
    node = state.nodes.get(file_id)
    if node is None or node.type != FILE or not is_visible(state, node, user.id):
        raise file_not_found(file_id)
    return node


def _usable_keys(node: Node, user: User) -> dict[str, dict]:
    """The user's copies of the file key that one of their key pairs can open."""
    keys = node.file_keys.get(user.id, {})
    return {v: k for v, k in keys.items() if KEY_PAIR_VERSION_FOR.get(v) in user.key_pairs}


def user_file_key(backend: Backend, req: Request) -> Response:
    user: User = req.user
    version = req.query.get("version")
    if version is not None and version not in KEY_PAIR_VERSIONS:
        raise ApiError(400, -80000, "version must be a key pair version (RSA-4096 or A)")
    state = backend.state
    with state.lock:
        node = _file(state, req.path_params["file_id"], user)
        if not effective(state, node, user.id) & KEY_READER_PERMISSIONS:
            raise forbidden(f"User may not read file {node.id}")
        if not user.key_pairs:
            raise ApiError(403, -70020, "User has no key pair")
        keys = node.file_keys.get(user.id, {})
        wanted = [version] if version else [v for v in KEY_PAIR_VERSIONS if v in user.key_pairs]
        for pair_version in wanted:
            key = keys.get(FILE_KEY_VERSION_FOR[pair_version])
            if key is not None:
                return Response(body=key)
    raise ApiError(404, -40761, f"User has no file key for file {node.id}")


def _scope(backend: Backend, req: Request, user: User) -> list[Node]:
    state = backend.state
    file_id = query_int(req, "file_id")
    room_id = query_int(req, "room_id")
    if file_id is not None:
        node = _file(state, file_id, user)
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


def missing_file_keys(backend: Backend, req: Request) -> Response:
    user: User = req.user
    offset, limit = paging(req, MISSING_KEYS_LIMIT)
    user_filter = query_int(req, "user_id")
    state = backend.state
    with state.lock:
        if not user.key_pairs:
            raise ApiError(403, -70020, "Caller has no key pair")
        if user_filter is not None and user_filter not in state.users:
            raise user_not_found(user_filter)
        # No rescue keys exist in the emulator, so use_key lists nothing.
        files = [] if req.query.get("use_key") else _scope(backend, req, user)
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
        for file_id in dict.fromkeys(fid for _, fid in chosen):
            for key in _usable_keys(state.nodes[file_id], user).values():
                files_json.append({"id": file_id, "fileKeyContainer": key})
    return Response(
        body={
            "range": {"offset": offset, "limit": limit, "total": len(pairs)},
            "items": [{"userId": uid, "fileId": fid} for uid, fid in chosen],
            "users": users_json,
            "files": files_json,
        }
    )


def _public(user: User, version: str) -> dict:
    container = user.key_pairs[version]["publicKeyContainer"]
    return {k: container[k] for k in ("version", "publicKey", "createdAt") if k in container}


def set_file_keys(backend: Backend, req: Request) -> Response:
    body = req.json()
    items = body_list(body, "items")
    user: User = req.user
    state = backend.state
    with state.lock:
        accepted = []
        for item in items:
            if not isinstance(item, dict):
                raise ApiError(400, -80000, "items must be objects {fileId, userId, fileKey}")
            file_id = body_int(item, "fileId")
            user_id = body_int(item, "userId")
            file_key = validate_file_key(item.get("fileKey"))
            node = _file(state, file_id, user)
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
    return no_content()


def register(router: Router) -> None:
    router.add("GET", f"{V4}/nodes/files/{{file_id:int}}/user_file_key", user_file_key)
    router.add("GET", f"{V4}/nodes/missingFileKeys", missing_file_keys)
    router.add("POST", f"{V4}/nodes/files/keys", set_file_keys)
