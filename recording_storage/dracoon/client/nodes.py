"""Node lookups, paged listing and room-path resolution (find or create each level).

Concurrency: many threads (and processes, and other service instances) may resolve the same
path at once. Inside one process a lock per (parent, name) makes the threads wait for the
first creator; across processes DRACOON's 409 on a duplicate name is the arbiter: the loser
looks the room up and continues with it. A room create is therefore never blindly retried
into a duplicate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .auth import AuthorizedApi
from .errors import DracoonApiError, DracoonError, RoomNotFoundError
from .models import Node
from .names import split_room_path, validate_name
from .paging import offset_pages
from .transport import RetryKind

log = logging.getLogger(__name__)

PAGE_LIMIT = 500  # the API maximum for /nodes
MAX_PAGES = 1000  # 500,000 nodes per listing; a longer list is refused as a lie (paging)
_LOOKUP_AFTER_CONFLICT_DELAYS = (0.0, 0.1, 0.3, 1.0)


class NodeService:
    """Node queries of one account; keeps a short-lived cache of resolved rooms."""

    def __init__(
        self,
        api: AuthorizedApi,
        *,
        room_cache_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._cache_seconds = room_cache_seconds
        self._clock = clock
        self._cache: dict[tuple[int, str], tuple[Node, float]] = {}
        self._lock = threading.Lock()
        # Only while some thread resolves that name (see _name_lock): a service whose room
        # templates name a new room every day must not keep a lock per room ever used.
        self._name_locks: dict[tuple[int, str], _NameLock] = {}

    def get_node(self, node_id: int) -> Node:
        try:
            answer = self._api.call("GET", f"/v4/nodes/{int(node_id)}")
        except DracoonApiError as exc:
            raise exc.with_context(f"looking up node {node_id}") from None
        return Node.from_json(answer, endpoint="/v4/nodes/{id}")

    def delete_node(self, node_id: int) -> bool:
        """Delete one node; False when it does not exist (any more): a delete is idempotent."""
        try:
            self._api.call("DELETE", f"/v4/nodes/{int(node_id)}", kind=RetryKind.REPEATABLE)
        except DracoonApiError as exc:
            if exc.status == 404:
                return False
            raise exc.with_context(f"deleting node {node_id}") from None
        return True

    def list_children(
        self,
        parent_id: int | None,
        *,
        node_type: str | None = None,
        name: str | None = None,
        name_contains: str | None = None,
    ) -> Iterator[Node]:
        """Yield the direct children of ``parent_id`` (0/None: top-level), page by page.

        ``name`` / ``name_contains``: server-side name filters (``name:eq`` / ``name:cn``,
        case-insensitive), so a lookup does not cost a listing of the whole room.
        """
        filters = []
        if node_type:
            filters.append(f"type:eq:{node_type}")
        if name is not None:
            filters.append(f"name:eq:{name}")
        if name_contains is not None:
            filters.append(f"name:cn:{name_contains}")
        listing = f"listing node {parent_id or 0}"

        def fetch(offset: int, limit: int) -> object:
            params = {
                "parent_id": int(parent_id or 0),
                "depth_level": 0,
                "offset": offset,
                "limit": limit,
                "filter": "|".join(filters) or None,
            }
            try:
                return self._api.call("GET", "/v4/nodes", params=params)
            except DracoonApiError as exc:
                raise exc.with_context(listing) from None

        for items in offset_pages(
            fetch, method="GET", endpoint="/v4/nodes", limit=PAGE_LIMIT, max_pages=MAX_PAGES
        ):
            for item in items:
                yield Node.from_json(item, endpoint="/v4/nodes")

    def find_room(
        self, parent_id: int | None, name: str, *, as_server_compares: bool = False
    ) -> Node | None:
        """The room called ``name`` directly under ``parent_id``, or ``None``.

        A room whose name is exactly ``name`` wins. Only with ``as_server_compares`` is a
        room taken whose name merely equals ``name`` the way the server compares names
        (what its ``name:eq:`` filter returned, e.g. another case): after the server refused
        to create ``name`` because such a room exists (409), or where no room may be
        created. DRACOON does not document whether room names are unique case-sensitively
        (docs/emulator.md), so the client never guesses with a rule of its own (``casefold``
        would make ``STRASSE`` find ``Straße``); the server's answer decides.
        """
        candidates = list(self.list_children(parent_id, node_type="room", name=name))
        for node in candidates:
            if node.name == name:
                return node
        if as_server_compares and candidates:
            return min(candidates, key=lambda node: int(node.id))
        return None

    def create_room(self, parent_id: int | None, name: str) -> Node:
        """Create a sub-room inheriting permissions; a 409 means it exists: return that one."""
        validate_name(name)
        body: dict[str, Any] = {"name": name, "inheritPermissions": bool(parent_id)}
        if parent_id:  # a top-level room has no parentId (null breaks DRACOON's schema)
            body["parentId"] = int(parent_id)
        where = f"room {parent_id}" if parent_id else "the top level"
        try:
            node = Node.from_json(
                self._api.call(
                    "POST", "/v4/nodes/rooms", json_body=body, kind=RetryKind.REPEATABLE
                ),
                method="POST",
                endpoint="/v4/nodes/rooms",
            )
            log.info("created room %r in %s (id %s)", name, where, node.id)
            return node
        except DracoonApiError as exc:
            if exc.status != 409:
                raise exc.with_context(f"creating room {name!r} in {where}") from None
        for delay in _LOOKUP_AFTER_CONFLICT_DELAYS:
            time.sleep(delay)
            existing = self.find_room(parent_id, name, as_server_compares=True)
            if existing is not None:
                return existing
        raise DracoonError(
            f"creating room {name!r} in {where}: DRACOON says the name exists (409) but no room "
            "of that name is visible; a folder or file may carry the name, or the account lacks "
            "read permission on it"
        )

    def resolve_room_path(
        self, parent_room_id: int | None, path: str | Sequence[str], *, create: bool = True
    ) -> Node:
        """Find (and with ``create`` make) each room of ``path`` below ``parent_room_id``."""
        parts = split_room_path(path)
        current: Node | None = None
        parent = int(parent_room_id) if parent_room_id else 0
        for index, name in enumerate(parts):
            current = self._resolve_level(parent, name, create, parts[: index + 1])
            parent = current.id
        assert current is not None
        return current

    def forget(self, node_id: int | None = None) -> None:
        """Drop cached rooms (all of them, or those with ``node_id`` as id or parent)."""
        with self._lock:
            if node_id is None:
                self._cache.clear()
                return
            for key, (node, _) in list(self._cache.items()):
                if node.id == node_id or key[0] == node_id:
                    del self._cache[key]

    def _resolve_level(self, parent: int, name: str, create: bool, so_far: list[str]) -> Node:
        key = (parent, name)
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._name_lock(key):
            cached = self._cached(key)  # another thread may have resolved it meanwhile
            if cached is not None:
                return cached
            node = self.find_room(parent or None, name, as_server_compares=not create)
            if node is None:
                if not create:
                    raise RoomNotFoundError(
                        f"room {'/'.join(so_far)!r} does not exist below room {parent}"
                    )
                node = self.create_room(parent or None, name)
            now = self._clock()
            with self._lock:
                # Resolving is rare (once per path and TTL), so this is where expired entries
                # of paths nobody asks for any more go: the cache holds recent rooms only.
                for old, (_, expires) in list(self._cache.items()):
                    if now >= expires:
                        del self._cache[old]
                self._cache[key] = (node, now + self._cache_seconds)
            return node

    def cached_room(self, node_id: int) -> Node | None:
        """A room resolved by path within ``room_cache_seconds``, by its id (else None).

        Lets an upload into a just-resolved room skip looking the room up again.
        """
        now = self._clock()
        with self._lock:
            for node, expires in self._cache.values():
                if node.id == node_id and now < expires:
                    return node
        return None

    def _cached(self, key: tuple[int, str]) -> Node | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            node, expires = entry
            if self._clock() >= expires:
                del self._cache[key]
                return None
            return node

    @contextmanager
    def _name_lock(self, key: tuple[int, str]) -> Iterator[None]:
        """Hold the lock of ``key``; it exists only while a thread holds or waits for it."""
        with self._lock:
            entry = self._name_locks.get(key)
            if entry is None:
                entry = self._name_locks[key] = _NameLock()
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._lock:
                entry.users -= 1
                if entry.users == 0:
                    del self._name_locks[key]


class _NameLock:
    """A lock and the number of threads holding or waiting for it (``_lock`` guards it)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
