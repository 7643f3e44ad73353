"""Metadata updates of rooms, folders and files: name, notes, quota, timestamps.

A new name follows the naming rules and must not clash (case-insensitively) with a
sibling: 409 -41001, as on creation.
"""

from __future__ import annotations

from ..backend import Backend
from ..errors import ApiError, file_not_found, node_not_found, room_not_found
from ..messages import Request, Response
from ..model import FILE, FOLDER, ROOM, Node, User, iso, now_iso, parse_datetime
from ..names import check_name
from ..permissions import effective, is_visible
from ..routing import Router
from ..state import State
from ..views import node_json
from .common import body_int, require

V4 = "/api/v4"
MAX_NOTES = 255


def _node_of_type(state: State, node_id: int, user: User, kind: str) -> Node:
    node = state.nodes.get(node_id)
    if node is None or node.type != kind or not is_visible(state, node, user.id):
        raise {ROOM: room_not_found, FILE: file_not_found}.get(kind, node_not_found)(node_id)
    return node


def _apply(state: State, node: Node, body: dict, user: User) -> None:
    """Validate everything first, then change the node (no half-applied update)."""
    changes: dict = {}
    if body.get("name") is not None:
        name = check_name(body["name"])
        clash = state.child_named(node.parent_id, name)
        if clash is not None and clash.id != node.id:
            raise ApiError(409, -41001, f"A node named {name!r} already exists here")
        changes["name"] = name
    if "notes" in body and body["notes"] is not None:
        notes = body["notes"]
        if not isinstance(notes, str) or len(notes) > MAX_NOTES:
            raise ApiError(400, -80007, f"notes must be a string of at most {MAX_NOTES} characters")
        changes["notes"] = notes
    for field, attr in (
        ("timestampCreation", "timestamp_creation"),
        ("timestampModification", "timestamp_modification"),
    ):
        raw = body.get(field)
        if raw is None:
            continue
        try:
            changes[attr] = iso(parse_datetime(raw))
        except (TypeError, ValueError, AttributeError):
            raise ApiError(400, -80000, f"{field} is not an ISO-8601 date") from None
    if node.type == ROOM and body.get("quota") is not None:
        quota = body_int(body, "quota")
        if quota is None or quota < 0:
            raise ApiError(400, -80003, "quota must be >= 0")
        changes["quota"] = quota or None
    if node.type == FILE and body.get("classification") is not None:
        classification = body_int(body, "classification")
        if classification not in (1, 2, 3, 4):
            raise ApiError(400, -80000, "classification must be 1, 2, 3 or 4")
        changes["classification"] = classification
    for attr, value in changes.items():
        setattr(node, attr, value)
    node.updated_at, node.updated_by = now_iso(), user.id


def update_room(backend: Backend, req: Request) -> Response:
    user: User = req.user
    body = req.json()
    state = backend.state
    with state.lock:
        room = _node_of_type(state, req.path_params["room_id"], user, ROOM)
        parent = state.nodes.get(room.parent_id) if room.parent_id else None
        allowed = "manage" in effective(state, room, user.id) or (
            "manage" in effective(state, parent, user.id)
            if parent
            else "ROOM_MANAGER" in user.roles
        )
        if not allowed:
            raise ApiError(403, None, f"User may not change room {room.id}")
        _apply(state, room, body, user)
        return Response(200, node_json(state, room, user, detailed=True))


def update_folder(backend: Backend, req: Request) -> Response:
    user: User = req.user
    body = req.json()
    state = backend.state
    with state.lock:
        folder = _node_of_type(state, req.path_params["folder_id"], user, FOLDER)
        require(state, folder, user, "change", "change the folder")
        _apply(state, folder, body, user)
        return Response(200, node_json(state, folder, user, detailed=True))


def update_file(backend: Backend, req: Request) -> Response:
    user: User = req.user
    body = req.json()
    state = backend.state
    with state.lock:
        node = _node_of_type(state, req.path_params["file_id"], user, FILE)
        require(state, node, user, "change", "change the file")
        _apply(state, node, body, user)
        return Response(200, node_json(state, node, user, detailed=True))


def register(router: Router) -> None:
    router.add("PUT", f"{V4}/nodes/rooms/{{room_id:int}}", update_room)
    router.add("PUT", f"{V4}/nodes/folders/{{folder_id:int}}", update_folder)
    router.add("PUT", f"{V4}/nodes/files/{{file_id:int}}", update_file)
