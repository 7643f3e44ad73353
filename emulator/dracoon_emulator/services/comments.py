"""Node comments: list, add, change (author only) and delete (author or room admin).

A deleted comment stays in the list (flagged deleted), as DRACOON's description says.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ApiError, node_not_found
from ..model import Comment, Node, User, now_iso
from ..permissions import effective, is_visible
from ..state import State


@dataclass(frozen=True)
class AuthoredComment:
    """A comment with its author and last editor (None: a deleted user)."""

    comment: Comment
    created_by: User | None
    updated_by: User | None


class Comments:
    def __init__(self, state: State) -> None:
        self._state = state

    def _authored(self, comment: Comment) -> AuthoredComment:
        users = self._state.users
        return AuthoredComment(
            comment, users.get(comment.created_by), users.get(comment.updated_by)
        )

    def _visible_node(self, user: User, node_id: int) -> Node:
        node = self._state.nodes.get(node_id)
        if node is None or not is_visible(self._state, node, user.id):
            raise node_not_found(node_id)
        return node

    def _comment(self, comment_id: int, user: User) -> Comment:
        state = self._state
        comment = state.comments.get(comment_id)
        node = state.nodes.get(comment.node_id) if comment else None
        if comment is None or comment.is_deleted or node is None:
            raise ApiError(404, -41400, f"Comment {comment_id} not found")
        if not is_visible(state, node, user.id):
            raise ApiError(404, -41400, f"Comment {comment_id} not found")
        return comment

    def of_node(self, user: User, node_id: int, *, hide_deleted: bool) -> list[AuthoredComment]:
        with self._state.lock:
            node = self._visible_node(user, node_id)
            return [
                self._authored(c)
                for c in sorted(self._state.comments.values(), key=lambda c: c.id)
                if c.node_id == node.id and not (hide_deleted and c.is_deleted)
            ]

    def add(self, user: User, node_id: int, text: str) -> AuthoredComment:
        """Comment a node the user may read."""
        state = self._state
        with state.lock:
            node = self._visible_node(user, node_id)
            if "read" not in effective(state, node, user.id):
                raise ApiError(403, None, f"User has no 'read' permission on node {node.id}")
            moment = now_iso()
            comment = Comment(
                state.new_comment_id(), node.id, text, moment, user.id, moment, user.id
            )
            state.comments[comment.id] = comment
            return self._authored(comment)

    def change(self, user: User, comment_id: int, text: str) -> AuthoredComment:
        with self._state.lock:
            comment = self._comment(comment_id, user)
            if comment.created_by != user.id:
                raise ApiError(403, None, "Only the author may change a comment")
            comment.text, comment.is_changed = text, True
            comment.updated_at, comment.updated_by = now_iso(), user.id
            return self._authored(comment)

    def delete(self, user: User, comment_id: int) -> None:
        state = self._state
        with state.lock:
            comment = self._comment(comment_id, user)
            node = state.nodes[comment.node_id]
            if comment.created_by != user.id and "manage" not in effective(state, node, user.id):
                raise ApiError(403, None, "Only the author or a room admin may delete a comment")
            comment.is_deleted = True
            comment.updated_at, comment.updated_by = now_iso(), user.id
