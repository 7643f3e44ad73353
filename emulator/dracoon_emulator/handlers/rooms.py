"""Rooms on the wire: create, encrypt, and the room users (grants with public keys). The
rules are the backend's (services/rooms.py, rules.py)."""

from __future__ import annotations

from ..backend import Backend
from ..errors import ApiError, missing_field
from ..messages import Request, Response, no_content
from ..model import User
from ..names import check_name
from ..routing import Router
from ..services.rooms import RoomRequest
from ..views import page, permissions_json, public_key_container, user_info
from .common import body_ids, body_int, body_list, paging

V4 = "/api/v4"


def create_room(backend: Backend, req: Request) -> Response:
    body = req.json()
    user: User = req.user
    name = check_name(body.get("name"))
    parent_id = body_int(body, "parentId", required=False)
    admin_ids = body.get("adminIds") or []
    if not isinstance(admin_ids, list) or any(
        isinstance(i, bool) or not isinstance(i, int) for i in admin_ids
    ):
        raise ApiError(400, -80000, "adminIds must be a list of user ids")
    inherit = body.get("inheritPermissions")
    if inherit is not None and not isinstance(inherit, bool):
        raise ApiError(400, -80000, "inheritPermissions must be true or false")
    quota = body_int(body, "quota", required=False)
    classification = body_int(body, "classification", required=False) or 2
    if not 1 <= classification <= 4:
        raise ApiError(400, -80000, "classification must be 1, 2, 3 or 4")
    notes = body.get("notes")
    if notes is not None and (not isinstance(notes, str) or len(notes) > 255):
        raise ApiError(400, -80007, "notes must be a string of at most 255 characters")
    wanted = RoomRequest(
        name=name,
        parent_id=parent_id,
        admin_ids=admin_ids,
        inherit=inherit,
        quota=quota,
        classification=classification,
        notes=notes,
        timestamp_creation=body.get("timestampCreation"),
        timestamp_modification=body.get("timestampModification"),
    )
    room = backend.rooms.create(user, wanted)
    return Response(201, backend.node_json(room, user, detailed=True))


def encrypt_room(backend: Backend, req: Request) -> Response:
    body = req.json()
    flag = body.get("isEncrypted")
    if not isinstance(flag, bool):
        raise missing_field("isEncrypted")
    user: User = req.user
    room = backend.rooms.set_encryption(user, req.path_params["room_id"], flag)
    return Response(200, backend.node_json(room, user, detailed=True))


def _room_user_filters(raw: str | None) -> dict[str, str]:
    filters: dict[str, str] = {}
    for clause in (raw or "").split("|"):
        if not clause:
            continue
        parts = clause.split(":", 2)
        if len(parts) != 3:
            raise ApiError(400, -80000, f"Invalid filter {clause!r}")
        field, op, value = parts
        if field not in ("user", "userId", "isGranted", "permissionsManage", "effectivePerm"):
            raise ApiError(400, -80000, f"Filter field {field!r} is not supported")
        if op not in ("eq", "cn"):
            raise ApiError(400, -80000, f"Filter operator {op!r} is not supported")
        filters[field] = value
    return filters


def room_users(backend: Backend, req: Request) -> Response:
    user: User = req.user
    offset, limit = paging(req)
    filters = _room_user_filters(req.query.get("filter"))
    scope = filters.get("effectivePerm", "false")
    members = backend.rooms.members(
        user, req.path_params["room_id"], effective_grants=scope != "false"
    )
    items = []
    for found in members:
        member, perms = found.user, found.permissions
        if "userId" in filters and str(member.id) != filters["userId"]:
            continue
        if "permissionsManage" in filters and (
            ("manage" in perms) != (filters["permissionsManage"] == "true")
        ):
            continue
        if "user" in filters:
            text = filters["user"].casefold()
            fields = (member.login, member.first_name, member.last_name, member.email)
            if not any(text in f.casefold() for f in fields):
                continue
        entry = {
            "userInfo": user_info(member),
            # deprecated duplicates of userInfo, still required by the description
            "id": member.id,
            "login": member.login,
            "displayName": f"{member.first_name} {member.last_name}".strip(),
            "email": member.email,
            "isGranted": True,
            "permissions": permissions_json(perms),
        }
        public = public_key_container(member)
        if public is not None:
            entry["publicKeyContainer"] = public
        items.append(entry)
    return Response(body=page(items, offset, limit))


def grant_room_users(backend: Backend, req: Request) -> Response:
    body = req.json()
    items = body_list(body, "items")
    backend.rooms.grant_users(req.user, req.path_params["room_id"], items)
    return no_content()


def revoke_room_users(backend: Backend, req: Request) -> Response:
    body = req.json()
    ids = body_ids(body, "ids")
    backend.rooms.revoke_users(req.user, req.path_params["room_id"], ids)
    return no_content()


def register(router: Router) -> None:
    router.add("POST", f"{V4}/nodes/rooms", create_room)
    router.add("PUT", f"{V4}/nodes/rooms/{{room_id:int}}/encrypt", encrypt_room)
    router.add("GET", f"{V4}/nodes/rooms/{{room_id:int}}/users", room_users)
    router.add("PUT", f"{V4}/nodes/rooms/{{room_id:int}}/users", grant_room_users)
    router.add("DELETE", f"{V4}/nodes/rooms/{{room_id:int}}/users", revoke_room_users)
