"""Node listing, lookup, search, parents, folders and deletion."""

from __future__ import annotations

from ..backend import Backend
from ..errors import ApiError, missing_field, node_not_found
from ..filters import matches, parse_filter, sort_nodes
from ..messages import Request, Response, no_content
from ..model import FILE, FOLDER, ROOM, Node, User, now_iso
from ..names import check_name
from ..permissions import effective, is_visible
from ..recycle import delete_room, move_to_bin
from ..routing import Router
from ..state import State
from ..views import node_json, page, without_nulls
from .common import body_ids, body_int, paging, query_int, require, visible_node

V4 = "/api/v4"


def _subtree(state: State, parent_id: int | None, depth_level: int) -> list[Node]:
    """Children of ``parent_id`` and, for depth_level n > 0, n more levels (-1: all)."""
    found: list[Node] = []
    level = [parent_id]
    depth = 0
    while level:
        next_level = []
        for pid in level:
            for child in state.children(pid):
                found.append(child)
                next_level.append(child.id)
        depth += 1
        if depth_level >= 0 and depth > depth_level:
            break
        level = next_level
    return found


def _parent_from_query(state: State, req: Request, user: User) -> int | None:
    parent_id = query_int(req, "parent_id", 0)
    if not parent_id:
        return None
    parent = state.nodes.get(parent_id)
    if parent is None or not is_visible(state, parent, user.id):
        raise node_not_found(parent_id)
    if parent.type == FILE:
        raise ApiError(400, -80000, f"Node {parent_id} is a file and has no children")
    return parent_id


def _listing(backend: Backend, req: Request, nodes_filter) -> Response:
    user: User = req.user
    state = backend.state
    offset, limit = paging(req)
    predicates = parse_filter(req.query.get("filter"))
    depth_level = query_int(req, "depth_level", 0) or 0
    with state.lock:
        parent_id = _parent_from_query(state, req, user)
        candidates = [
            node
            for node in _subtree(state, parent_id, depth_level)
            if is_visible(state, node, user.id)
            and nodes_filter(node)
            and matches(predicates, state, node, user)
        ]
        ordered = sort_nodes(candidates, req.query.get("sort"))
        result = page(ordered, offset, limit)
        result["items"] = [node_json(state, node, user) for node in result["items"]]
    return Response(body=result)


def list_nodes(backend: Backend, req: Request) -> Response:
    return _listing(backend, req, lambda node: True)


def search_nodes(backend: Backend, req: Request) -> Response:
    text = req.query.get("search_string")
    if not text:
        raise missing_field("search_string")
    needle = text.strip("*").casefold()
    return _listing(backend, req, lambda node: not needle or needle in node.name.casefold())


def get_node(backend: Backend, req: Request) -> Response:
    with backend.state.lock:
        node = visible_node(backend.state, req.path_params["node_id"], req.user)
        return Response(body=node_json(backend.state, node, req.user, detailed=True))


def parents(backend: Backend, req: Request) -> Response:
    with backend.state.lock:
        node = visible_node(backend.state, req.path_params["node_id"], req.user)
        items = [
            without_nulls({"id": a.id, "name": a.name, "type": a.type, "parentId": a.parent_id})
            for a in backend.state.ancestors(node)
        ]
    return Response(body={"items": items})


def create_folder(backend: Backend, req: Request) -> Response:
    body = req.json()
    user: User = req.user
    parent_id = body_int(body, "parentId")
    name = check_name(body.get("name"))
    state = backend.state
    with state.lock:
        parent = visible_node(state, parent_id, user)
        if parent.type == FILE:
            raise ApiError(400, -80000, "A folder's parent must be a room or a folder")
        require(state, parent, user, "create", "create a folder")
        if state.child_named(parent.id, name) is not None:
            raise ApiError(409, -41001, f"A node named {name!r} already exists in {parent.id}")
        folder = Node(
            id=state.new_node_id(),
            type=FOLDER,
            name=name,
            parent_id=parent.id,
            created_at=now_iso(),
            created_by=user.id,
            notes=body.get("notes") if isinstance(body.get("notes"), str) else None,
        )
        folder.reference_id = folder.id
        state.nodes[folder.id] = folder
        return Response(201, node_json(state, folder, user, detailed=True))


def delete_nodes(backend: Backend, req: Request) -> Response:
    body = req.json()
    ids = body_ids(body, "nodeIds")
    with backend.state.lock:
        for node_id in ids:
            _delete(backend, node_id, req.user)
    return no_content()


def delete_node(backend: Backend, req: Request) -> Response:
    with backend.state.lock:
        _delete(backend, req.path_params["node_id"], req.user)
    return no_content()


def _delete(backend: Backend, node_id: object, user: User) -> None:
    state = backend.state
    if not isinstance(node_id, int):
        raise ApiError(400, -80000, "nodeIds must be integers")
    node = visible_node(state, node_id, user)
    if node.type == ROOM:
        parent = state.nodes.get(node.parent_id) if node.parent_id else None
        allowed = (
            "manage" in effective(state, parent, user.id)
            if parent
            else "ROOM_MANAGER" in user.roles
        )
        if not allowed:
            raise ApiError(403, None, f"User may not delete room {node.id}")
        delete_room(state, backend.store, node)  # final, as on DRACOON
    else:
        require(state, node, user, "delete", "delete it")
        move_to_bin(state, node, user.id)  # files and folders go to the room's recycle bin


def register(router: Router) -> None:
    router.add("GET", f"{V4}/nodes", list_nodes)
    router.add("DELETE", f"{V4}/nodes", delete_nodes)
    router.add("GET", f"{V4}/nodes/search", search_nodes)
    router.add("POST", f"{V4}/nodes/folders", create_folder)
    router.add("GET", f"{V4}/nodes/{{node_id:int}}", get_node)
    router.add("DELETE", f"{V4}/nodes/{{node_id:int}}", delete_node)
    router.add("GET", f"{V4}/nodes/{{node_id:int}}/parents", parents)
