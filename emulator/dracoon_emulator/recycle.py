"""The recycle bin: where deleted (and overwritten) files and folders go, per room.

On DRACOON only rooms have a recycle bin. Deleting a file or folder, or overwriting a file
with a new version, moves the node there; a room's deletion is final and takes its bin
with it. Content blobs stay on disk until the entry is removed from the bin, so a restore
gives back the very same bytes (and, in encrypted rooms, the same file keys).
"""

from __future__ import annotations

from .model import ROOM, Node, RecycledNode, now_iso
from .state import State
from .storage import ContentStore


def move_to_bin(state: State, node: Node, user_id: int) -> RecycledNode:
    """Take a file or folder (and its subtree) out of the tree into its room's bin.

    Call with ``state.lock`` held.
    """
    entry = RecycledNode(
        node=node,
        room_id=state.room_of(node).id,
        parent_path=state.parent_path(node),
        deleted_at=now_iso(),
        deleted_by=user_id,
        subtree=state.descendants(node),
    )
    for victim in [node, *entry.subtree]:
        state.nodes.pop(victim.id, None)
    state.recycle_bin[node.id] = entry
    _forget_favorites(state, [node, *entry.subtree])
    return entry


def purge(state: State, store: ContentStore, entry: RecycledNode) -> None:
    """Remove an entry from the bin for good, with its content (``state.lock`` held)."""
    state.recycle_bin.pop(entry.node.id, None)
    for victim in [entry.node, *entry.subtree]:
        if victim.blob_id:
            store.delete(victim.blob_id)
    _drop_comments(state, [entry.node, *entry.subtree])


def delete_room(state: State, store: ContentStore, room: Node) -> None:
    """Delete a room for good: its tree, its content and the bins of it and its sub-rooms."""
    doomed = [room, *state.descendants(room)]
    room_ids = {n.id for n in doomed if n.type == ROOM}
    for entry in [e for e in state.recycle_bin.values() if e.room_id in room_ids]:
        purge(state, store, entry)
    for victim in doomed:
        if victim.blob_id:
            store.delete(victim.blob_id)
        state.nodes.pop(victim.id, None)
    _forget_favorites(state, doomed)
    _drop_comments(state, doomed)


def _forget_favorites(state: State, nodes: list[Node]) -> None:
    ids = {n.id for n in nodes}
    for user in state.users.values():
        if ids & set(user.favorites):
            user.favorites = [i for i in user.favorites if i not in ids]


def _drop_comments(state: State, nodes: list[Node]) -> None:
    ids = {n.id for n in nodes}
    for comment_id in [c.id for c in state.comments.values() if c.node_id in ids]:
        del state.comments[comment_id]
