"""The emulator's own admin API under ``/emulator/`` (JSON, no auth): add users, rooms and
members at runtime, inspect nodes, inject faults, expire tokens, reset to the seed.

It is deliberately apart from ``/api``: nothing a DRACOON client calls ever lands here.
"""

from __future__ import annotations

from .backend import Backend
from .errors import ApiError, room_not_found
from .messages import Request, Response, no_content
from .model import KEY_PAIR_VERSIONS, ROOM, User
from .routing import Router
from .seed import SeedError, add_room, add_user, parse_permissions
from .views import node_json

PREFIX = "/emulator"
_OBSERVER = User(id=0, login="emulator-admin", password="")  # sees nodes without grants


def _seed_error(exc: Exception) -> ApiError:
    return ApiError(400, -80000, str(exc))


def add_user_handler(backend: Backend, req: Request) -> Response:
    try:
        user = add_user(backend.state, backend.materialise_key_pairs_for(req.json()))
    except SeedError as exc:
        raise _seed_error(exc) from None
    return Response(201, {"id": user.id, "login": user.login})


def list_users(backend: Backend, req: Request) -> Response:
    with backend.state.lock:
        users = [
            {
                "id": u.id,
                "login": u.login,
                "roles": u.roles,
                "keyPairVersions": [v for v in KEY_PAIR_VERSIONS if v in u.key_pairs],
            }
            for u in backend.state.users.values()
        ]
    return Response(body=users)


def add_room_handler(backend: Backend, req: Request) -> Response:
    try:
        room = add_room(backend.state, req.json())
    except SeedError as exc:
        raise _seed_error(exc) from None
    with backend.state.lock:
        return Response(201, node_json(backend.state, room, _OBSERVER))


def set_member(backend: Backend, req: Request) -> Response:
    body = req.json()
    state = backend.state
    with state.lock:
        room = state.nodes.get(req.path_params["room_id"])
        if room is None or room.type != ROOM:
            raise room_not_found(req.path_params["room_id"])
        login = body.get("login")
        user = state.user_by_login(login) if isinstance(login, str) else None
        if user is None:
            raise ApiError(404, -70501, f"Unknown login {login!r}")
        try:
            perms = parse_permissions(body.get("permissions", []), "permissions")
        except SeedError as exc:
            raise _seed_error(exc) from None
        if perms:
            room.members[user.id] = perms
        else:
            room.members.pop(user.id, None)
    return no_content()


def list_nodes(backend: Backend, req: Request) -> Response:
    state = backend.state
    with state.lock:
        items = [
            {
                "id": n.id,
                "type": n.type,
                "name": n.name,
                "path": state.parent_path(n) + n.name,
                "parentId": n.parent_id,
                "size": n.size,
                "isEncrypted": state.is_encrypted(n),
                "notes": n.notes,
                "expireAt": n.expire_at,
                "sha256": n.sha256,
                "fileKeyUserIds": sorted(n.file_keys),
            }
            for n in sorted(state.nodes.values(), key=lambda n: n.id)
        ]
    return Response(body=items)


def list_uploads(backend: Backend, req: Request) -> Response:
    """Upload channels and their state (``transfer`` = still open), so a test can prove that
    none was left open.

    Tokens are left out: they are credentials for the chunk URLs.
    """
    state = backend.state
    with state.lock:
        items = [
            {
                "id": u.id,
                "name": u.name,
                "parentId": u.parent_id,
                "status": u.status,
                "directS3": u.direct_s3,
                "nodeId": u.node_id,
                "statusPolls": u.status_polls,
            }
            for u in state.uploads.values()
        ]
    return Response(body=items)


def set_faults(backend: Backend, req: Request) -> Response:
    rules = req.json().get("rules")
    if not isinstance(rules, list):
        raise ApiError(400, -80000, 'Body must be {"rules": [...]}')
    try:
        backend.faults.add(rules)
    except ValueError as exc:
        raise _seed_error(exc) from None
    return Response(201, {"rules": backend.faults.rules()})


def get_faults(backend: Backend, req: Request) -> Response:
    return Response(body={"rules": backend.faults.rules()})


def clear_faults(backend: Backend, req: Request) -> Response:
    backend.faults.clear()
    return no_content()


def expire_tokens(backend: Backend, req: Request) -> Response:
    return Response(body={"expired": backend.sessions.expire_all()})


def reset(backend: Backend, req: Request) -> Response:
    backend.reset()
    return no_content()


def health(backend: Backend, req: Request) -> Response:
    return Response(body={"status": "ok"})


def register(router: Router) -> None:
    router.add("GET", f"{PREFIX}/health", health, auth=False)
    router.add("POST", f"{PREFIX}/users", add_user_handler, auth=False)
    router.add("GET", f"{PREFIX}/users", list_users, auth=False)
    router.add("POST", f"{PREFIX}/rooms", add_room_handler, auth=False)
    router.add("PUT", f"{PREFIX}/rooms/{{room_id:int}}/members", set_member, auth=False)
    router.add("GET", f"{PREFIX}/nodes", list_nodes, auth=False)
    router.add("GET", f"{PREFIX}/uploads", list_uploads, auth=False)
    router.add("POST", f"{PREFIX}/faults", set_faults, auth=False)
    router.add("GET", f"{PREFIX}/faults", get_faults, auth=False)
    router.add("DELETE", f"{PREFIX}/faults", clear_faults, auth=False)
    router.add("POST", f"{PREFIX}/tokens/expire", expire_tokens, auth=False)
    router.add("POST", f"{PREFIX}/reset", reset, auth=False)
