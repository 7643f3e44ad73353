"""Plain file keys of the files this client just uploaded, so their distribution skips RSA.

Handing a new file's key to the room's readers starts from our own copy of the key, which
the server returns RSA-encrypted; unwrapping it costs an RSA-4096 private-key operation per
file. The uploader still holds the plain key it generated, so it remembers it here together
with the encrypted copy it sent at completion. Distribution uses the plain key only when the
server's copy is exactly that encrypted copy: if the file was replaced meanwhile (say by an
overwrite from elsewhere), the copies differ and the key is unwrapped as before.

The cache is small and bounded (the newest uploads only): it is an optimisation, never a
source of truth. Plain keys never appear in its repr.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from recording_storage.dracoon.crypto import PlainFileKey

DEFAULT_CAPACITY = 256


class RecentFileKeys:
    """Thread-safe, bounded map: file id -> (the encrypted copy we sent, its plain key)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, tuple[str, PlainFileKey]] = OrderedDict()

    def __repr__(self) -> str:
        return f"RecentFileKeys({len(self._entries)} of {self._capacity})"

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, file_id: int, sent_copy: dict[str, Any], plain: PlainFileKey) -> None:
        """Keep ``plain`` for ``file_id``; ``sent_copy`` is the fileKey JSON sent at completion."""
        wrapped = sent_copy.get("key")
        if not isinstance(wrapped, str) or self._capacity <= 0:
            return
        with self._lock:
            self._entries[int(file_id)] = (wrapped, plain)
            self._entries.move_to_end(int(file_id))
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every plain file key (the client is being closed)."""
        with self._lock:
            self._entries.clear()

    def lookup(self, file_id: int, server_copies: Iterable[dict[str, Any]]) -> PlainFileKey | None:
        """The plain key, when one of the server's copies is the one we sent; else None."""
        with self._lock:
            entry = self._entries.get(int(file_id))
        if entry is None:
            return None
        wrapped, plain = entry
        for copy in server_copies:
            if isinstance(copy, dict) and copy.get("key") == wrapped:
                return plain
        return None
