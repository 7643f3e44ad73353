"""Metadata updates of rooms, folders and files: name, notes, quota, timestamps.

A new name follows the naming rules and must not clash (case-insensitively) with a
sibling: 409 -41001, as on creation. The body is checked here, not on the wire, because
its checks depend on the node (a quota only for rooms, a classification only for files).
"""

from __future__ import annotations

from ..bodies import body_int
from ..errors import ApiError, file_not_found, forbidden, node_not_found, room_not_found
from ..model import FILE, ROOM, Node, User, iso, now_iso, parse_datetime
from ..names import check_name
from ..permissions import effective, is_visible
from ..state import State

MAX_NOTES = 255


class NodeUpdates:
    def __init__(self, state: State) -> None:
        self._state = state

    def update(self, user: User, kind: str, node_id: int, body: dict) -> Node:
        """Change a room (its admin, its parent's admin, or a ROOM_MANAGER for a top-level
        room), a folder or a file (``change`` permission): all of ``body`` or nothing."""
        state = self._state
        with state.lock:
            node = state.nodes.get(node_id)
            if node is None or node.type != kind or not is_visible(state, node, user.id):
                raise {ROOM: room_not_found, FILE: file_not_found}.get(kind, node_not_found)(
                    node_id
                )
            if kind == ROOM:
                parent = state.nodes.get(node.parent_id) if node.parent_id else None
                allowed = "manage" in effective(state, node, user.id) or (
                    "manage" in effective(state, parent, user.id)
                    if parent
                    else "ROOM_MANAGER" in user.roles
                )
                if not allowed:
                    raise ApiError(403, None, f"User may not change room {node.id}")
            elif "change" not in effective(state, node, user.id):
                what = "folder" if kind != FILE else "file"
                raise forbidden(
                    f"User has no 'change' permission on node {node.id} to change the {what}"
                )
            _apply(state, node, body, user)
            return node


def _apply(state: State, node: Node, body: dict, user: User) -> None:
    """Validate everything first, then change the node (no half-applied update)."""
    changes: dict = {}
    if body.get("name") is not None:
        name = check_name(body["name"])
        clash = state.child_named(node.parent_id, name)
        if clash is not None and clash.id != node.id:
            raise ApiError(409, -41001, f"A node named {name!r} already exists here")
        changes["name"] = name
    if "notes" in body and body["notes"] is not None:
        notes = body["notes"]
        if not isinstance(notes, str) or len(notes) > MAX_NOTES:
            raise ApiError(400, -80007, f"notes must be a string of at most {MAX_NOTES} characters")
        changes["notes"] = notes
    for field, attr in (
        ("timestampCreation", "timestamp_creation"),
        ("timestampModification", "timestamp_modification"),
    ):
        raw = body.get(field)
        if raw is None:
            continue
        try:
            changes[attr] = iso(parse_datetime(raw))
        except (TypeError, ValueError, AttributeError):
            raise ApiError(400, -80000, f"{field} is not an ISO-8601 date") from None
    if node.type == ROOM and body.get("quota") is not None:
        quota = body_int(body, "quota")
        if quota is None or quota < 0:
            raise ApiError(400, -80003, "quota must be >= 0")
        changes["quota"] = quota or None
    if node.type == FILE and body.get("classification") is not None:
        classification = body_int(body, "classification")
        if classification not in (1, 2, 3, 4):
            raise ApiError(400, -80000, "classification must be 1, 2, 3 or 4")
        changes["classification"] = classification
    for attr, value in changes.items():
        setattr(node, attr, value)
    node.updated_at, node.updated_by = now_iso(), user.id
