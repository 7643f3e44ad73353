"""Rooms: create, encrypt, and the room users (grants with public keys)."""

from __future__ import annotations

from ..backend import Backend
from ..errors import ApiError, missing_field, room_not_found, user_not_found
from ..messages import Request, Response, no_content
from ..model import PERMISSIONS, ROOM, Node, User, now_iso
from ..names import check_name
from ..permissions import direct_grants, effective, inherited_grants, is_visible
from ..routing import Router
from ..rules import grant, new_room, room_inheritance
from ..state import State
from ..views import node_json, page, permissions_json, public_key_container, user_info
from .common import body_ids, body_int, body_list, paging

V4 = "/api/v4"


def _room(state: State, room_id: int, user: User) -> Node:
    room = state.nodes.get(room_id)
    if room is None or room.type != ROOM or not is_visible(state, room, user.id):
        raise room_not_found(room_id)
    return room


def _require_manage(state: State, room: Node, user: User, action: str) -> None:
    if "manage" not in effective(state, room, user.id):
        raise ApiError(403, None, f"User is not an admin of room {room.id} and cannot {action}")


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
    state = backend.state
    with state.lock:
        parent = None
        if parent_id:  # null, missing (and, leniently, 0) create a top-level room
            parent = _room(state, parent_id, user)
            _require_manage(state, parent, user, "create sub-rooms")
        elif "ROOM_MANAGER" not in user.roles:
            raise ApiError(403, None, "Creating a top-level room needs the ROOM_MANAGER role")
        inherit = room_inheritance(parent, inherit)
        if not inherit and not admin_ids:
            if parent is not None:
                raise ApiError(
                    400, -40006, "A room without inherited permissions needs at least one adminIds"
                )
            # A top-level room without adminIds: its creator (a ROOM_MANAGER) becomes its
            # admin, which the official SDK's workflows rely on.
            admin_ids = [user.id]
        for admin_id in admin_ids:
            if admin_id not in state.users:
                raise user_not_found(admin_id)
        room = new_room(
            state,
            name,
            parent,
            created_by=user.id,
            inherit=inherit,
            quota=quota,
            classification=classification,
            notes=notes,
            timestamp_creation=body.get("timestampCreation"),
            timestamp_modification=body.get("timestampModification"),
        )
        for admin_id in admin_ids:
            grant(room, admin_id, PERMISSIONS)
        return Response(201, node_json(state, room, user, detailed=True))


def encrypt_room(backend: Backend, req: Request) -> Response:
    body = req.json()
    flag = body.get("isEncrypted")
    if not isinstance(flag, bool):
        raise missing_field("isEncrypted")
    user: User = req.user
    state = backend.state
    with state.lock:
        room = _room(state, req.path_params["room_id"], user)
        _require_manage(state, room, user, "change its encryption")
        if room.encrypted != flag:
            if room.parent_id is not None:
                raise ApiError(
                    400, -40004, "Only top-level rooms can be (un)encrypted; sub-rooms inherit it"
                )
            if not backend.settings.crypto_enabled:
                raise ApiError(412, None, "Encryption is not enabled on this system")
            if state.children(room.id):
                raise ApiError(
                    400,
                    -40008 if flag else -40003,
                    "Only an empty room (no files, folders or sub-rooms) can change encryption",
                )
            room.encrypted = flag
            room.updated_at, room.updated_by = now_iso(), user.id
        return Response(200, node_json(state, room, user, detailed=True))


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
    state = backend.state
    with state.lock:
        room = _room(state, req.path_params["room_id"], user)
        if not effective(state, room, user.id):
            raise ApiError(403, None, f"User has no permissions on room {room.id}")
        scope = filters.get("effectivePerm", "false")
        grants = direct_grants(room) if scope == "false" else inherited_grants(state, room)
        items = []
        for user_id in sorted(grants):
            member = state.users.get(user_id)
            perms = grants[user_id]
            if member is None or not perms:
                continue
            if "userId" in filters and str(user_id) != filters["userId"]:
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
    user: User = req.user
    state = backend.state
    with state.lock:
        room = _room(state, req.path_params["room_id"], user)
        _require_manage(state, room, user, "change its users")
        changes: dict[int, list[str]] = {}
        for item in items:
            if not isinstance(item, dict):
                raise ApiError(400, -80000, "items must be objects {id, permissions}")
            user_id = body_int(item, "id")
            perms = item.get("permissions")
            if not isinstance(perms, dict):
                raise missing_field("permissions")
            if user_id not in state.users:
                raise user_not_found(user_id)
            changes[user_id] = [name for name, granted in perms.items() if granted is True]
        for user_id, perms in changes.items():
            grant(room, user_id, perms)
    return no_content()


def revoke_room_users(backend: Backend, req: Request) -> Response:
    body = req.json()
    ids = body_ids(body, "ids")
    user: User = req.user
    state = backend.state
    with state.lock:
        room = _room(state, req.path_params["room_id"], user)
        _require_manage(state, room, user, "change its users")
        for user_id in ids:
            room.members.pop(user_id, None)  # their file keys stay stored, as on DRACOON
    return no_content()


def register(router: Router) -> None:
    router.add("POST", f"{V4}/nodes/rooms", create_room)
    router.add("PUT", f"{V4}/nodes/rooms/{{room_id:int}}/encrypt", encrypt_room)
    router.add("GET", f"{V4}/nodes/rooms/{{room_id:int}}/users", room_users)
    router.add("PUT", f"{V4}/nodes/rooms/{{room_id:int}}/users", grant_room_users)
    router.add("DELETE", f"{V4}/nodes/rooms/{{room_id:int}}/users", revoke_room_users)
