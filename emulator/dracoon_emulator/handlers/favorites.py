"""Favourites: a per-user mark on any node the user can see (``isFavorite`` in Node)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..messages import Request, Response, no_content
from ..model import User
from ..routing import Router
from ..views import node_json
from .common import visible_node

if TYPE_CHECKING:
    from ..app import EmulatorApp

V4 = "/api/v4"


def add_favorite(app: EmulatorApp, req: Request) -> Response:
    user: User = req.user
    with app.state.lock:
        node = visible_node(app.state, req.path_params["node_id"], user)
        if node.id not in user.favorites:
            user.favorites.append(node.id)
        return Response(201, node_json(app.state, node, user, detailed=True))


def remove_favorite(app: EmulatorApp, req: Request) -> Response:
    user: User = req.user
    with app.state.lock:
        node = visible_node(app.state, req.path_params["node_id"], user)
        if node.id in user.favorites:
            user.favorites.remove(node.id)
    return no_content()


def register(router: Router) -> None:
    router.add("POST", f"{V4}/nodes/{{node_id:int}}/favorite", add_favorite)
    router.add("DELETE", f"{V4}/nodes/{{node_id:int}}/favorite", remove_favorite)
