"""Room quotas: a room's ``quota`` (bytes; 0 or unset = unlimited) caps the size of all files
below it, as DRACOON's room quota does. Exceeding it answers 507 -40200 ("Exceeds the free
node quota in room"), the description's code for uploads."""

from __future__ import annotations

from .errors import ApiError
from .model import FILE, ROOM, Node
from .state import State


def check_room_quota(state: State, parent: Node, extra_bytes: int) -> None:
    """507 -40200 if ``extra_bytes`` more under ``parent`` would exceed the quota of the room
    it is in or of any room above (call with ``state.lock`` held)."""
    for node in [*state.ancestors(parent), parent]:
        if node.type != ROOM or not node.quota:
            continue
        used = sum(d.size for d in state.descendants(node) if d.type == FILE)
        if used + extra_bytes > node.quota:
            raise ApiError(
                507,
                -40200,
                f"Room {node.id} quota of {node.quota} bytes would be exceeded "
                f"({used} used, {extra_bytes} more)",
            )
