"""The recycle bin API: list a room's deleted nodes (summaries and versions), look one up,
restore, and remove for good (chosen ids or a whole room's bin).

Permissions follow DRACOON's description: ``readRecycleBin`` to list, ``restoreRecycleBin``
plus ``create`` on the target to restore, ``deleteRecycleBin`` to remove.
"""

from __future__ import annotations

from ..backend import Backend
from ..errors import ApiError, missing_field, node_not_found, room_not_found
from ..files import parse_resolution
from ..messages import Request, Response, no_content
from ..model import FILE, FOLDER, ROOM, Node, RecycledNode, User
from ..names import autorename_candidates
from ..permissions import effective, is_visible
from ..recycle import move_to_bin, purge
from ..routing import Router
from ..state import State
from ..views import page, user_info, without_nulls
from .common import body_int, body_list, paging, require, visible_node

V4 = "/api/v4"


def _room_with(state: State, room_id: int, user: User, permission: str) -> Node:
    room = state.nodes.get(room_id)
    if room is None or not is_visible(state, room, user.id):
        raise node_not_found(room_id)
    if room.type != ROOM:
        raise room_not_found(room_id)  # 404 -40000: only rooms have a recycle bin
    if permission not in effective(state, room, user.id):
        raise ApiError(403, None, f"User has no '{permission}' permission on room {room_id}")
    return room


def _deleted_ids(body: dict) -> list[int]:
    """``deletedNodeIds``: a non-empty list of integers, repeats dropped (order kept)."""
    ids = body_list(body, "deletedNodeIds")
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise ApiError(400, -80000, "deletedNodeIds must be integers")
    return list(dict.fromkeys(ids))


def _entry(state: State, deleted_id: int, user: User, permission: str) -> RecycledNode:
    entry = state.recycle_bin.get(deleted_id)
    room = state.nodes.get(entry.room_id) if entry else None
    if entry is None or room is None or not is_visible(state, room, user.id):
        raise node_not_found(deleted_id)
    if permission not in effective(state, room, user.id):
        raise ApiError(403, None, f"User has no '{permission}' permission on room {room.id}")
    return entry


def deleted_node_json(state: State, entry: RecycledNode) -> dict:
    node = entry.node
    size = node.size if node.type == FILE else sum(n.size for n in entry.subtree)
    return without_nulls(
        {
            "id": node.id,
            "referenceId": node.reference_id or node.id,
            "parentId": node.parent_id,
            "parentPath": entry.parent_path,
            "type": node.type,
            "name": node.name,
            "expireAt": node.expire_at,
            "isEncrypted": state.nodes[entry.room_id].encrypted,
            "notes": node.notes or "",
            "size": size,
            "classification": node.classification,
            "createdAt": node.created_at,
            "createdBy": user_info(state.users.get(node.created_by), node.created_by),
            "updatedAt": node.updated_at or node.created_at,
            "updatedBy": user_info(
                state.users.get(node.updated_by or node.created_by), node.updated_by
            ),
            "deletedAt": entry.deleted_at,
            "deletedBy": user_info(state.users.get(entry.deleted_by), entry.deleted_by),
        }
    )


def _type_filter(raw: str | None) -> set[str] | None:
    """Only ``type:eq:file[:folder]`` is emulated; other filter fields are refused."""
    if not raw:
        return None
    types: set[str] = set()
    for clause in raw.split("|"):
        parts = clause.split(":")
        if len(parts) < 3 or parts[0] != "type" or parts[1] != "eq":
            raise ApiError(400, -80000, f"Filter {clause[:60]!r} is not supported by the emulator")
        types.update(parts[2:])
    return types


def list_deleted(backend: Backend, req: Request) -> Response:
    user: User = req.user
    offset, limit = paging(req)
    types = _type_filter(req.query.get("filter"))
    state = backend.state
    with state.lock:
        room = _room_with(state, req.path_params["node_id"], user, "readRecycleBin")
        groups: dict[tuple, list[RecycledNode]] = {}
        for entry in state.recycle_bin.values():
            if entry.room_id != room.id or (types and entry.node.type not in types):
                continue
            key = (entry.node.parent_id, entry.node.name.casefold(), entry.node.type)
            groups.setdefault(key, []).append(entry)
        items = []
        for entries in groups.values():
            entries.sort(key=lambda e: (e.deleted_at, e.node.id))
            last = entries[-1]
            items.append(
                {
                    "parentId": last.node.parent_id,
                    "parentPath": last.parent_path,
                    "name": last.node.name,
                    "type": last.node.type,
                    "cntVersions": len(entries),
                    "firstDeletedAt": entries[0].deleted_at,
                    "lastDeletedAt": last.deleted_at,
                    "lastDeletedNodeId": last.node.id,
                    "timestampCreation": last.node.timestamp_creation or last.node.created_at,
                    "timestampModification": last.node.timestamp_modification
                    or last.node.created_at,
                }
            )
        items.sort(key=lambda i: (i["parentPath"], i["name"].casefold(), i["type"]))
    return Response(body=page(items, offset, limit))


def deleted_versions(backend: Backend, req: Request) -> Response:
    user: User = req.user
    offset, limit = paging(req)
    kind = req.query.get("type")
    name = req.query.get("name")
    if kind not in (FILE, FOLDER):
        raise ApiError(400, -80000, "Query parameter type must be file or folder")
    if not name:
        raise missing_field("name")
    state = backend.state
    with state.lock:
        parent = visible_node(state, req.path_params["node_id"], user)
        room = state.room_of(parent)
        if "readRecycleBin" not in effective(state, room, user.id):
            raise ApiError(403, None, f"User has no 'readRecycleBin' permission on room {room.id}")
        versions = sorted(
            (
                e
                for e in state.recycle_bin.values()
                if e.node.parent_id == parent.id
                and e.node.type == kind
                and e.node.name.casefold() == name.casefold()
            ),
            key=lambda e: (e.deleted_at, e.node.id),
        )
        items = [deleted_node_json(state, e) for e in versions]
    return Response(body=page(items, offset, limit))


def get_deleted(backend: Backend, req: Request) -> Response:
    with backend.state.lock:
        entry = _entry(backend.state, req.path_params["deleted_id"], req.user, "readRecycleBin")
        return Response(body=deleted_node_json(backend.state, entry))


def restore(backend: Backend, req: Request) -> Response:
    body = req.json()
    ids = _deleted_ids(body)
    resolution, _keep = parse_resolution(body)
    target_id = body_int(body, "parentId", required=False)
    user: User = req.user
    state = backend.state
    with state.lock:
        entries = [_entry(state, i, user, "restoreRecycleBin") for i in ids]
        plans = []
        for entry in entries:
            parent_id = target_id or entry.node.parent_id
            parent = state.nodes.get(parent_id) if parent_id is not None else None
            if parent is None or not is_visible(state, parent, user.id):
                raise ApiError(
                    404,
                    -41000,
                    f"Parent {parent_id} of deleted node {entry.node.id} is gone; "
                    "restore with parentId",
                )
            if parent.type == FILE:
                raise ApiError(400, -80000, f"Restore target {parent.id} is a file")
            if state.is_encrypted(parent) != state.nodes[entry.room_id].encrypted:
                raise ApiError(
                    400, -40001, "A node cannot be restored across an encryption boundary"
                )
            require(state, parent, user, "create", "restore into it")
            plans.append((entry, parent))
        for entry, parent in plans:
            _restore_one(state, entry, parent, resolution, user)
    return no_content()


def _restore_one(state: State, entry: RecycledNode, parent, resolution: str, user: User) -> None:
    node = entry.node
    name = node.name
    existing = state.child_named(parent.id, name)
    if existing is not None:
        if resolution == "fail":
            raise ApiError(409, -41001, f"A node named {name!r} already exists in {parent.id}")
        if resolution == "overwrite" and existing.type == node.type == FILE:
            move_to_bin(state, existing, user.id)  # as the description says: swapped
        else:
            free = (c for c in autorename_candidates(name) if not state.child_named(parent.id, c))
            name = next(free)
    del state.recycle_bin[node.id]
    node.name, node.parent_id = name, parent.id
    for restored in [node, *entry.subtree]:
        state.nodes[restored.id] = restored


def remove_deleted(backend: Backend, req: Request) -> Response:
    body = req.json()
    ids = _deleted_ids(body)
    state = backend.state
    with state.lock:
        entries = [_entry(state, i, req.user, "deleteRecycleBin") for i in ids]
        for entry in entries:
            purge(state, backend.store, entry)
    return no_content()


def empty_bin(backend: Backend, req: Request) -> Response:
    state = backend.state
    with state.lock:
        room = _room_with(state, req.path_params["node_id"], req.user, "deleteRecycleBin")
        for entry in [e for e in state.recycle_bin.values() if e.room_id == room.id]:
            purge(state, backend.store, entry)
    return no_content()


def register(router: Router) -> None:
    router.add("GET", f"{V4}/nodes/{{node_id:int}}/deleted_nodes", list_deleted)
    router.add("DELETE", f"{V4}/nodes/{{node_id:int}}/deleted_nodes", empty_bin)
    router.add("GET", f"{V4}/nodes/{{node_id:int}}/deleted_nodes/versions", deleted_versions)
    router.add("GET", f"{V4}/nodes/deleted_nodes/{{deleted_id:int}}", get_deleted)
    router.add("POST", f"{V4}/nodes/deleted_nodes/actions/restore", restore)
    router.add("DELETE", f"{V4}/nodes/deleted_nodes", remove_deleted)
