"""Metadata updates of rooms, folders and files on the wire: name, notes, quota, timestamps.
The rules (who may change what, name clashes, the fields' checks) are in
services/node_updates.py.
"""

from __future__ import annotations

from ..backend import Backend
from ..messages import Request, Response
from ..model import FILE, FOLDER, ROOM, User
from ..routing import Router

V4 = "/api/v4"


def update_room(backend: Backend, req: Request) -> Response:
    return _update(backend, req, ROOM, req.path_params["room_id"])


def update_folder(backend: Backend, req: Request) -> Response:
    return _update(backend, req, FOLDER, req.path_params["folder_id"])


def update_file(backend: Backend, req: Request) -> Response:
    return _update(backend, req, FILE, req.path_params["file_id"])


def _update(backend: Backend, req: Request, kind: str, node_id: int) -> Response:
    user: User = req.user
    node = backend.node_updates.update(user, kind, node_id, req.json())
    return Response(200, backend.node_json(node, user, detailed=True))


def register(router: Router) -> None:
    router.add("PUT", f"{V4}/nodes/rooms/{{room_id:int}}", update_room)
    router.add("PUT", f"{V4}/nodes/folders/{{folder_id:int}}", update_folder)
    router.add("PUT", f"{V4}/nodes/files/{{file_id:int}}", update_file)
