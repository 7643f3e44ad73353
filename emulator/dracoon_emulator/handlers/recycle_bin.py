"""The recycle bin API on the wire: list a room's deleted nodes (summaries and versions), look
one up, restore, and remove for good (chosen ids or a whole room's bin). The rules and
permissions are in services/recycle_bin.py.
"""

from __future__ import annotations

from ..backend import Backend
from ..errors import ApiError, missing_field
from ..files import parse_resolution
from ..messages import Request, Response, no_content
from ..model import FILE, FOLDER
from ..routing import Router
from ..services.recycle_bin import DeletedNode
from ..views import page, user_info, without_nulls
from .common import body_int, body_list, paging

V4 = "/api/v4"


def _deleted_ids(body: dict) -> list[int]:
    """``deletedNodeIds``: a non-empty list of integers, repeats dropped (order kept)."""
    ids = body_list(body, "deletedNodeIds")
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise ApiError(400, -80000, "deletedNodeIds must be integers")
    return list(dict.fromkeys(ids))


def deleted_node_json(shown: DeletedNode) -> dict:
    entry = shown.entry
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
            "isEncrypted": shown.encrypted,
            "notes": node.notes or "",
            "size": size,
            "classification": node.classification,
            "createdAt": node.created_at,
            "createdBy": user_info(shown.created_by, node.created_by),
            "updatedAt": node.updated_at or node.created_at,
            "updatedBy": user_info(shown.updated_by, node.updated_by),
            "deletedAt": entry.deleted_at,
            "deletedBy": user_info(shown.deleted_by, entry.deleted_by),
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
    offset, limit = paging(req)
    types = _type_filter(req.query.get("filter"))
    items = []
    for entries in backend.recycle_bin.groups(req.user, req.path_params["node_id"], types):
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
                "timestampModification": last.node.timestamp_modification or last.node.created_at,
            }
        )
    items.sort(key=lambda i: (i["parentPath"], i["name"].casefold(), i["type"]))
    return Response(body=page(items, offset, limit))


def deleted_versions(backend: Backend, req: Request) -> Response:
    offset, limit = paging(req)
    kind = req.query.get("type")
    name = req.query.get("name")
    if kind not in (FILE, FOLDER):
        raise ApiError(400, -80000, "Query parameter type must be file or folder")
    if not name:
        raise missing_field("name")
    versions = backend.recycle_bin.versions(req.user, req.path_params["node_id"], kind, name)
    return Response(body=page([deleted_node_json(v) for v in versions], offset, limit))


def get_deleted(backend: Backend, req: Request) -> Response:
    shown = backend.recycle_bin.get(req.user, req.path_params["deleted_id"])
    return Response(body=deleted_node_json(shown))


def restore(backend: Backend, req: Request) -> Response:
    body = req.json()
    ids = _deleted_ids(body)
    resolution, _keep = parse_resolution(body)
    target_id = body_int(body, "parentId", required=False)
    backend.recycle_bin.restore(req.user, ids, resolution, target_id)
    return no_content()


def remove_deleted(backend: Backend, req: Request) -> Response:
    backend.recycle_bin.remove(req.user, _deleted_ids(req.json()))
    return no_content()


def empty_bin(backend: Backend, req: Request) -> Response:
    backend.recycle_bin.empty(req.user, req.path_params["node_id"])
    return no_content()


def register(router: Router) -> None:
    router.add("GET", f"{V4}/nodes/{{node_id:int}}/deleted_nodes", list_deleted)
    router.add("DELETE", f"{V4}/nodes/{{node_id:int}}/deleted_nodes", empty_bin)
    router.add("GET", f"{V4}/nodes/{{node_id:int}}/deleted_nodes/versions", deleted_versions)
    router.add("GET", f"{V4}/nodes/deleted_nodes/{{deleted_id:int}}", get_deleted)
    router.add("POST", f"{V4}/nodes/deleted_nodes/actions/restore", restore)
    router.add("DELETE", f"{V4}/nodes/deleted_nodes", remove_deleted)
