"""Favourites: a per-user mark on any node the user can see (``isFavorite`` in Node)."""

from __future__ import annotations

from ..backend import Backend
from ..messages import Request, Response, no_content
from ..model import User
from ..routing import Router

V4 = "/api/v4"


def add_favorite(backend: Backend, req: Request) -> Response:
    user: User = req.user
    node = backend.nodes.mark_favorite(user, req.path_params["node_id"], favorite=True)
    return Response(201, backend.node_json(node, user, detailed=True))


def remove_favorite(backend: Backend, req: Request) -> Response:
    backend.nodes.mark_favorite(req.user, req.path_params["node_id"], favorite=False)
    return no_content()


def register(router: Router) -> None:
    router.add("POST", f"{V4}/nodes/{{node_id:int}}/favorite", add_favorite)
    router.add("DELETE", f"{V4}/nodes/{{node_id:int}}/favorite", remove_favorite)
