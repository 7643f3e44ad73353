"""Node comments on the wire: list, add, change (author only) and delete (author or room
admin); the rules are in services/comments.py.

A deleted comment stays in the list with ``isDeleted: true`` (and is hidden with
``hide_deleted=true``), as DRACOON's description says.
"""

from __future__ import annotations

from ..backend import Backend
from ..errors import ApiError, missing_field
from ..messages import Request, Response, no_content
from ..routing import Router
from ..services.comments import AuthoredComment
from ..views import page, user_info
from .common import paging, query_bool

V4 = "/api/v4"
MAX_COMMENT_LENGTH = 65535


def comment_json(found: AuthoredComment) -> dict:
    comment = found.comment
    return {
        "id": comment.id,
        "text": comment.text,
        "createdAt": comment.created_at,
        "createdBy": user_info(found.created_by, comment.created_by),
        "updatedAt": comment.updated_at,
        "updatedBy": user_info(found.updated_by, comment.updated_by),
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
    found = backend.comments.of_node(
        req.user, req.path_params["node_id"], hide_deleted=hide_deleted
    )
    return Response(body=page([comment_json(c) for c in found], offset, limit))


def add_comment(backend: Backend, req: Request) -> Response:
    text = _text(req)
    return Response(
        201, comment_json(backend.comments.add(req.user, req.path_params["node_id"], text))
    )


def change_comment(backend: Backend, req: Request) -> Response:
    text = _text(req)
    changed = backend.comments.change(req.user, req.path_params["comment_id"], text)
    return Response(200, comment_json(changed))


def delete_comment(backend: Backend, req: Request) -> Response:
    backend.comments.delete(req.user, req.path_params["comment_id"])
    return no_content()


def register(router: Router) -> None:
    router.add("GET", f"{V4}/nodes/{{node_id:int}}/comments", list_comments)
    router.add("POST", f"{V4}/nodes/{{node_id:int}}/comments", add_comment)
    router.add("PUT", f"{V4}/nodes/comments/{{comment_id:int}}", change_comment)
    router.add("DELETE", f"{V4}/nodes/comments/{{comment_id:int}}", delete_comment)
