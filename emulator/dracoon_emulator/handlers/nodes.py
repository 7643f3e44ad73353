"""Node listing, lookup, search, parents, folders and deletion on the wire (the rules:
services/nodes.py)."""

from __future__ import annotations

from collections.abc import Callable

from ..backend import Backend
from ..errors import missing_field
from ..filters import parse_filter
from ..messages import Request, Response, no_content
from ..model import Node, User
from ..names import check_name
from ..routing import Router
from ..views import page, without_nulls
from .common import body_ids, body_int, paging, query_int

V4 = "/api/v4"


def _listing(backend: Backend, req: Request, wanted: Callable[[Node], bool]) -> Response:
    user: User = req.user
    offset, limit = paging(req)
    predicates = parse_filter(req.query.get("filter"))
    depth_level = query_int(req, "depth_level", 0) or 0
    parent_id = query_int(req, "parent_id", 0) or 0
    found = backend.nodes.listing(
        user, parent_id, depth_level, predicates, wanted, req.query.get("sort")
    )
    result = page(found, offset, limit)
    result["items"] = [backend.node_json(node, user) for node in result["items"]]
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
    node = backend.nodes.visible(req.user, req.path_params["node_id"])
    return Response(body=backend.node_json(node, req.user, detailed=True))


def parents(backend: Backend, req: Request) -> Response:
    items = [
        without_nulls({"id": a.id, "name": a.name, "type": a.type, "parentId": a.parent_id})
        for a in backend.nodes.ancestors(req.user, req.path_params["node_id"])
    ]
    return Response(body={"items": items})


def create_folder(backend: Backend, req: Request) -> Response:
    body = req.json()
    user: User = req.user
    parent_id = body_int(body, "parentId")
    assert parent_id is not None
    name = check_name(body.get("name"))
    notes = body.get("notes") if isinstance(body.get("notes"), str) else None
    folder = backend.nodes.create_folder(user, parent_id, name, notes)
    return Response(201, backend.node_json(folder, user, detailed=True))


def delete_nodes(backend: Backend, req: Request) -> Response:
    backend.nodes.delete(req.user, body_ids(req.json(), "nodeIds"))
    return no_content()


def delete_node(backend: Backend, req: Request) -> Response:
    backend.nodes.delete(req.user, [req.path_params["node_id"]])
    return no_content()


def register(router: Router) -> None:
    router.add("GET", f"{V4}/nodes", list_nodes)
    router.add("DELETE", f"{V4}/nodes", delete_nodes)
    router.add("GET", f"{V4}/nodes/search", search_nodes)
    router.add("POST", f"{V4}/nodes/folders", create_folder)
    router.add("GET", f"{V4}/nodes/{{node_id:int}}", get_node)
    router.add("DELETE", f"{V4}/nodes/{{node_id:int}}", delete_node)
    router.add("GET", f"{V4}/nodes/{{node_id:int}}/parents", parents)
