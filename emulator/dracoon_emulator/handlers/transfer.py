"""Copy and move on the wire (``copy_to`` / ``move_to``): the item list and the resolution
strategy are read here; the rules (permissions, same parent, encryption boundary, name
clashes, copies of content and keys) are the backend's, in services/transfer.py.
"""

from __future__ import annotations

from collections.abc import Callable

from ..backend import Backend
from ..errors import ApiError
from ..files import parse_resolution
from ..messages import Request, Response
from ..model import Node, User
from ..names import check_name
from ..routing import Router

V4 = "/api/v4"


def _items(body: dict) -> list[dict]:
    items = body.get("items")
    if items is None and isinstance(body.get("nodeIds"), list):  # deprecated form
        items = [{"id": i} for i in body["nodeIds"]]
    if not isinstance(items, list) or not items:
        raise ApiError(400, -80000, "Mandatory field 'items' is missing or empty")
    for item in items:
        if not isinstance(item, dict) or isinstance(item.get("id"), bool):
            raise ApiError(400, -80000, "items must be objects {id, name?}")
        if not isinstance(item.get("id"), int):
            raise ApiError(400, -80000, "items[].id must be an integer")
        if item.get("name") is not None:
            check_name(item["name"])
    return items


def copy_nodes(backend: Backend, req: Request) -> Response:
    return _transfer(backend, req, backend.transfers.copy, 201)


def move_nodes(backend: Backend, req: Request) -> Response:
    return _transfer(backend, req, backend.transfers.move, 200)


def _transfer(
    backend: Backend, req: Request, operation: Callable[[User, int, list[dict], str], Node],
    status: int,
) -> Response:  # fmt: skip
    body = req.json()
    items = _items(body)
    resolution, _keep = parse_resolution(body)
    user: User = req.user
    target = operation(user, req.path_params["node_id"], items, resolution)
    return Response(status, backend.node_json(target, user, detailed=True))


def register(router: Router) -> None:
    router.add("POST", f"{V4}/nodes/{{node_id:int}}/copy_to", copy_nodes)
    router.add("POST", f"{V4}/nodes/{{node_id:int}}/move_to", move_nodes)
