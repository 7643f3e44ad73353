"""Node comments: list, add, change (author only) and delete (author or room admin).

A deleted comment stays in the list with ``isDeleted: true`` (and is hidden with
``hide_deleted=true``), as DRACOON's description says.
"""

from __future__ import annotations

from ..backend import Backend
from ..errors import ApiError, missing_field
from ..messages import Request, Response, no_content
from ..model import Comment, User, now_iso
from ..permissions import effective, is_visible
from ..routing import Router
from ..state import State
from ..views import page, user_info
from .common import paging, query_bool, visible_node

V4 = "/api/v4"
MAX_COMMENT_LENGTH = 65535


def comment_json(state: State, comment: Comment) -> dict:
    return {
        "id": comment.id,
        "text": comment.text,
        "createdAt": comment.created_at,
        "createdBy": user_info(state.users.get(comment.created_by), comment.created_by),
        "updatedAt": comment.updated_at,
        "updatedBy": user_info(state.users.get(comment.updated_by), comment.updated_by),
        "isChanged": comment.is_changed,
        "isDeleted": comment.is_deleted,
    }


def _text(req: Request) -> str:
    text = req.json().get("text")
    if not isinstance(text, str) or not text.strip():
        raise missing_field("text")
    if len(text) > MAX_COMMENT_LENGTH:
        raise ApiError(400, -80000, f"text is longer than {MAX_COMMENT_LENGTH} characters")
    return text


def list_comments(backend: Backend, req: Request) -> Response:
    offset, limit = paging(req)
    hide_deleted = query_bool(req, "hide_deleted")
    state = backend.state
    with state.lock:
        node = visible_node(state, req.path_params["node_id"], req.user)
        items = [
            comment_json(state, c)
            for c in sorted(state.comments.values(), key=lambda c: c.id)
            if c.node_id == node.id and not (hide_deleted and c.is_deleted)
        ]
    return Response(body=page(items, offset, limit))


def add_comment(backend: Backend, req: Request) -> Response:
    user: User = req.user
    text = _text(req)
    state = backend.state
    with state.lock:
        node = visible_node(state, req.path_params["node_id"], user)
        if "read" not in effective(state, node, user.id):
            raise ApiError(403, None, f"User has no 'read' permission on node {node.id}")
        moment = now_iso()
        comment = Comment(state.new_comment_id(), node.id, text, moment, user.id, moment, user.id)
        state.comments[comment.id] = comment
        return Response(201, comment_json(state, comment))


def _comment(state: State, comment_id: int, user: User) -> Comment:
    comment = state.comments.get(comment_id)
    node = state.nodes.get(comment.node_id) if comment else None
    if comment is None or comment.is_deleted or node is None:
        raise ApiError(404, -41400, f"Comment {comment_id} not found")
    if not is_visible(state, node, user.id):
        raise ApiError(404, -41400, f"Comment {comment_id} not found")
    return comment


def change_comment(backend: Backend, req: Request) -> Response:
    user: User = req.user
    text = _text(req)
    state = backend.state
    with state.lock:
        comment = _comment(state, req.path_params["comment_id"], user)
        if comment.created_by != user.id:
            raise ApiError(403, None, "Only the author may change a comment")
        comment.text, comment.is_changed = text, True
        comment.updated_at, comment.updated_by = now_iso(), user.id
        return Response(200, comment_json(state, comment))


def delete_comment(backend: Backend, req: Request) -> Response:
    user: User = req.user
    state = backend.state
    with state.lock:
        comment = _comment(state, req.path_params["comment_id"], user)
        node = state.nodes[comment.node_id]
        if comment.created_by != user.id and "manage" not in effective(state, node, user.id):
            raise ApiError(403, None, "Only the author or a room admin may delete a comment")
        comment.is_deleted = True
        comment.updated_at, comment.updated_by = now_iso(), user.id
    return no_content()


def register(router: Router) -> None:
    router.add("GET", f"{V4}/nodes/{{node_id:int}}/comments", list_comments)
    router.add("POST", f"{V4}/nodes/{{node_id:int}}/comments", add_comment)
    router.add("PUT", f"{V4}/nodes/comments/{{comment_id:int}}", change_comment)
    router.add("DELETE", f"{V4}/nodes/comments/{{comment_id:int}}", delete_comment)
