"""Downloads: who may read a file, download URLs with an expiry, and where the content is.

The wire side (handlers/downloads.py) answers ranges and streams the content from disk.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from ..errors import ApiError, file_not_found, forbidden
from ..model import FILE, DownloadToken, Node, User
from ..permissions import effective, is_visible
from ..seed import Settings
from ..state import State
from ..storage import ContentStore


@dataclass(frozen=True)
class Content:
    """A file's stored content: where it lies on disk, its size and the file's name."""

    path: str
    size: int
    name: str


class Downloads:
    def __init__(self, state: State, store: ContentStore, settings: Settings) -> None:
        self._state = state
        self._store = store
        self._settings = settings

    def _readable_file(self, user: User, file_id: int) -> Node:
        state = self._state
        node = state.nodes.get(file_id)
        if node is None or node.type != FILE or not is_visible(state, node, user.id):
            raise file_not_found(file_id)
        if "read" not in effective(state, node, user.id):
            raise forbidden(f"User has no read permission on file {file_id}")
        return node

    def readable_file(self, user: User, file_id: int) -> Node:
        """The file if the user may read it (404 unseen, 403 without read permission)."""
        with self._state.lock:
            return self._readable_file(user, file_id)

    def new_url_token(self, user: User, file_id: int) -> str:
        """A download token for a file the user may read (used without authentication)."""
        with self._state.lock:
            node = self._readable_file(user, file_id)
            token = DownloadToken(
                secrets.token_urlsafe(24),
                node.id,
                time.time() + self._settings.download_url_lifetime_seconds,
            )
            self._state.download_tokens[token.value] = token
        return token.value

    def file_of_token(self, value: str) -> Node:
        """The file of a download token; 404 -40751 when unknown or expired."""
        with self._state.lock:
            token = self._state.download_tokens.get(value)
            if token is None or token.expires_at <= time.time():
                raise ApiError(404, -40751, "Download URL is unknown or has expired")
            node = self._state.nodes.get(token.node_id)
            if node is None:
                raise file_not_found(token.node_id)
            return node

    def content(self, node: Node) -> Content:
        """Where the file's content is; 404 -40751 when it was not kept (storage: discard)."""
        path = self._store.path(node.blob_id) if node.blob_id else None
        if path is None:
            raise ApiError(
                404, -40751, f"Content of file {node.id} is not stored (storage: discard)"
            )
        return Content(path, node.size, node.name)
