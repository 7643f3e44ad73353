"""File keys on the wire: the caller's own key, the missing-keys list and storing keys for
others. The rules (who may read, who still needs a key) are the backend's: services/keys.py.
"""

from __future__ import annotations

from ..backend import Backend
from ..errors import ApiError
from ..messages import Request, Response, no_content
from ..model import KEY_PAIR_VERSIONS
from ..routing import Router
from .common import body_list, paging, query_int

V4 = "/api/v4"
MISSING_KEYS_LIMIT = 100


def user_file_key(backend: Backend, req: Request) -> Response:
    version = req.query.get("version")
    if version is not None and version not in KEY_PAIR_VERSIONS:
        raise ApiError(400, -80000, "version must be a key pair version (RSA-4096 or A)")
    key = backend.keys.user_file_key(req.user, req.path_params["file_id"], version)
    return Response(body=key)


def missing_file_keys(backend: Backend, req: Request) -> Response:
    offset, limit = paging(req, MISSING_KEYS_LIMIT)
    user_filter = query_int(req, "user_id")
    use_key = bool(req.query.get("use_key"))
    # With use_key nothing is listed (the emulator has no rescue keys): the scope is not read.
    file_id = None if use_key else query_int(req, "file_id")
    room_id = None if use_key else query_int(req, "room_id")
    missing = backend.keys.missing(
        req.user,
        file_id=file_id,
        room_id=room_id,
        user_filter=user_filter,
        use_key=use_key,
        offset=offset,
        limit=limit,
    )
    return Response(
        body={
            "range": {"offset": offset, "limit": limit, "total": missing.total},
            "items": [{"userId": uid, "fileId": fid} for uid, fid in missing.pairs],
            "users": missing.users,
            "files": missing.files,
        }
    )


def set_file_keys(backend: Backend, req: Request) -> Response:
    items = body_list(req.json(), "items")
    backend.keys.set_keys(req.user, items)
    return no_content()


def register(router: Router) -> None:
    router.add("GET", f"{V4}/nodes/files/{{file_id:int}}/user_file_key", user_file_key)
    router.add("GET", f"{V4}/nodes/missingFileKeys", missing_file_keys)
    router.add("POST", f"{V4}/nodes/files/keys", set_file_keys)
