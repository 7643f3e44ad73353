"""The emulator's own admin API under ``/emulator/`` (JSON, no auth): add users, rooms and
members at runtime, inspect nodes, inject faults, expire tokens, reset to the seed.

It is deliberately apart from ``/api``: nothing a DRACOON client calls ever lands here.
"""

from __future__ import annotations

from .backend import Backend
from .errors import ApiError
from .messages import Request, Response, no_content
from .model import KEY_PAIR_VERSIONS, User
from .routing import Router
from .seed import SeedError

PREFIX = "/emulator"
_OBSERVER = User(id=0, login="emulator-admin", password="")  # sees nodes without grants


def _seed_error(exc: Exception) -> ApiError:
    return ApiError(400, -80000, str(exc))


def add_user_handler(backend: Backend, req: Request) -> Response:
    try:
        user = backend.admin.add_user(backend.materialise_key_pairs_for(req.json()))
    except SeedError as exc:
        raise _seed_error(exc) from None
    return Response(201, {"id": user.id, "login": user.login})


def list_users(backend: Backend, req: Request) -> Response:
    users = [
        {
            "id": u.id,
            "login": u.login,
            "roles": u.roles,
            "keyPairVersions": [v for v in KEY_PAIR_VERSIONS if v in u.key_pairs],
        }
        for u in backend.admin.users()
    ]
    return Response(body=users)


def add_room_handler(backend: Backend, req: Request) -> Response:
    try:
        room = backend.admin.add_room(req.json())
    except SeedError as exc:
        raise _seed_error(exc) from None
    return Response(201, backend.node_json(room, _OBSERVER))


def set_member(backend: Backend, req: Request) -> Response:
    body = req.json()
    try:
        backend.admin.set_member(
            req.path_params["room_id"], body.get("login"), body.get("permissions", [])
        )
    except SeedError as exc:
        raise _seed_error(exc) from None
    return no_content()


def list_nodes(backend: Backend, req: Request) -> Response:
    items = [
        {
            "id": n.node.id,
            "type": n.node.type,
            "name": n.node.name,
            "path": n.path,
            "parentId": n.node.parent_id,
            "size": n.node.size,
            "isEncrypted": n.encrypted,
            "notes": n.node.notes,
            "expireAt": n.node.expire_at,
            "sha256": n.node.sha256,
            "fileKeyUserIds": sorted(n.node.file_keys),
        }
        for n in backend.admin.nodes()
    ]
    return Response(body=items)


def list_uploads(backend: Backend, req: Request) -> Response:
    """Upload channels and their state (``transfer`` = still open), so a test can prove that
    none was left open.

    Tokens are left out: they are credentials for the chunk URLs.
    """
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
        for u in backend.admin.uploads()
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
