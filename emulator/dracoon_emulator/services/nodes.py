"""Nodes: what a user can see (lookup, listing, search, parents, versions), folders,
deletion and favourites.

Rooms have their own service (rooms.py); the recycle bin's rules are in recycle.py.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ApiError, forbidden, node_not_found
from ..filters import Predicate, matches, sort_nodes
from ..model import FILE, FOLDER, ROOM, Node, User, now_iso
from ..permissions import effective, is_visible
from ..recycle import delete_room, move_to_bin
from ..state import State
from ..storage import ContentStore


class Nodes:
    def __init__(self, state: State, store: ContentStore) -> None:
        self._state = state
        self._store = store

    def _visible(self, user: User, node_id: int) -> Node:
        node = self._state.nodes.get(node_id)
        if node is None or not is_visible(self._state, node, user.id):
            raise node_not_found(node_id)
        return node

    def _require(self, node: Node, user: User, permission: str, action: str) -> None:
        if permission not in effective(self._state, node, user.id):
            raise forbidden(f"User has no '{permission}' permission on node {node.id} to {action}")

    def visible(self, user: User, node_id: int) -> Node:
        """The node if the user can see it; 404 otherwise (as DRACOON does)."""
        with self._state.lock:
            return self._visible(user, node_id)

    def listing(
        self,
        user: User,
        parent_id: int,
        depth_level: int,
        predicates: list[Predicate],
        wanted: Callable[[Node], bool],
        sort: str | None,
    ) -> list[Node]:
        """The visible nodes under ``parent_id`` (0: the top level) down to ``depth_level``
        more levels (-1: all) that ``wanted`` and the filter predicates accept, sorted."""
        state = self._state
        with state.lock:
            parent = self._listed_parent(user, parent_id)
            candidates = [
                node
                for node in self._subtree(parent, depth_level)
                if is_visible(state, node, user.id)
                and wanted(node)
                and matches(predicates, state, node, user)
            ]
            return sort_nodes(candidates, sort)

    def _listed_parent(self, user: User, parent_id: int) -> int | None:
        if not parent_id:
            return None
        parent = self._state.nodes.get(parent_id)
        if parent is None or not is_visible(self._state, parent, user.id):
            raise node_not_found(parent_id)
        if parent.type == FILE:
            raise ApiError(400, -80000, f"Node {parent_id} is a file and has no children")
        return parent_id

    def _subtree(self, parent_id: int | None, depth_level: int) -> list[Node]:
        """Children of ``parent_id`` and, for depth_level n > 0, n more levels (-1: all)."""
        found: list[Node] = []
        level = [parent_id]
        depth = 0
        while level:
            next_level = []
            for pid in level:
                for child in self._state.children(pid):
                    found.append(child)
                    next_level.append(child.id)
            depth += 1
            if depth_level >= 0 and depth > depth_level:
                break
            level = next_level
        return found

    def ancestors(self, user: User, node_id: int) -> list[Node]:
        """A visible node's ancestors, root first."""
        with self._state.lock:
            return self._state.ancestors(self._visible(user, node_id))

    def create_folder(self, user: User, parent_id: int, name: str, notes: str | None) -> Node:
        """A folder in a room or folder the user may create in (409 -41001 on a name taken)."""
        state = self._state
        with state.lock:
            parent = self._visible(user, parent_id)
            if parent.type == FILE:
                raise ApiError(400, -80000, "A folder's parent must be a room or a folder")
            self._require(parent, user, "create", "create a folder")
            if state.child_named(parent.id, name) is not None:
                raise ApiError(409, -41001, f"A node named {name!r} already exists in {parent.id}")
            folder = Node(
                id=state.new_node_id(),
                type=FOLDER,
                name=name,
                parent_id=parent.id,
                created_at=now_iso(),
                created_by=user.id,
                notes=notes,
            )
            folder.reference_id = folder.id
            state.nodes[folder.id] = folder
            return folder

    def delete(self, user: User, node_ids: list[int]) -> None:
        """Delete nodes in order: rooms for good (their parent's admin, or a ROOM_MANAGER for a
        top-level room), files and folders into their room's recycle bin."""
        state = self._state
        with state.lock:
            for node_id in node_ids:
                if not isinstance(node_id, int):
                    raise ApiError(400, -80000, "nodeIds must be integers")
                node = self._visible(user, node_id)
                if node.type == ROOM:
                    parent = state.nodes.get(node.parent_id) if node.parent_id else None
                    allowed = (
                        "manage" in effective(state, parent, user.id)
                        if parent
                        else "ROOM_MANAGER" in user.roles
                    )
                    if not allowed:
                        raise ApiError(403, None, f"User may not delete room {node.id}")
                    delete_room(state, self._store, node)  # final, as on DRACOON
                else:
                    self._require(node, user, "delete", "delete it")
                    move_to_bin(state, node, user.id)  # files and folders go to the recycle bin

    def versions(self, user: User, reference_id: int) -> list[tuple[Node, bool]]:
        """Every file of a reference id the user can see, by id: (node, in the recycle bin)."""
        state = self._state
        with state.lock:
            items = []
            for node in state.nodes.values():
                if (
                    node.type == FILE
                    and (node.reference_id or node.id) == reference_id
                    and is_visible(state, node, user.id)
                ):
                    items.append((node, False))
            for entry in state.recycle_bin.values():
                node = entry.node
                room = state.nodes.get(entry.room_id)
                if (
                    node.type == FILE
                    and (node.reference_id or node.id) == reference_id
                    and room is not None
                    and is_visible(state, room, user.id)
                ):
                    items.append((node, True))
        if not items:
            raise ApiError(404, -40751, f"No file with reference id {reference_id}")
        return sorted(items, key=lambda pair: pair[0].id)

    def mark_favorite(self, user: User, node_id: int, *, favorite: bool) -> Node:
        """Mark (or unmark) a node the user can see as one of their favourites."""
        with self._state.lock:
            node = self._visible(user, node_id)
            if favorite and node.id not in user.favorites:
                user.favorites.append(node.id)
            elif not favorite and node.id in user.favorites:
                user.favorites.remove(node.id)
            return node
