"""Favourites: a per-user mark on any node the user can see (``isFavorite`` in Node)."""

from __future__ import annotations

from ..backend import Backend
from ..messages import Request, Response, no_content
from ..model import User
from ..routing import Router
from ..views import node_json
from .common import visible_node

V4 = "/api/v4"


def add_favorite(backend: Backend, req: Request) -> Response:
    user: User = req.user
    with backend.state.lock:
        node = visible_node(backend.state, req.path_params["node_id"], user)
        if node.id not in user.favorites:
            user.favorites.append(node.id)
        return Response(201, node_json(backend.state, node, user, detailed=True))


def remove_favorite(backend: Backend, req: Request) -> Response:
    user: User = req.user
    with backend.state.lock:
        node = visible_node(backend.state, req.path_params["node_id"], user)
        if node.id in user.favorites:
            user.favorites.remove(node.id)
    return no_content()


def register(router: Router) -> None:
    router.add("POST", f"{V4}/nodes/{{node_id:int}}/favorite", add_favorite)
    router.add("DELETE", f"{V4}/nodes/{{node_id:int}}/favorite", remove_favorite)
