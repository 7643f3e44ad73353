"""An optional observer of every exchange the emulator serves.

Tests hand the server a callable (``EmulatorServer(observer=...)``) to see each request and
the answer it got, e.g. to check both against DRACOON's API description. The emulator only
collects what it already has at hand: JSON and form bodies up to ``CAPTURE_LIMIT`` bytes,
never file data, so an upload of any size still streams through with constant memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

CAPTURE_LIMIT = 256 * 1024


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # decoded URL path, without the query
    query: tuple[tuple[str, str], ...]  # every query pair, in order (repeats kept)
    request_headers: dict[str, str]  # lower-case names
    request_body: bytes | None  # None: file data or larger than CAPTURE_LIMIT (not kept)
    status: int  # 0: the connection was dropped without an answer
    response_headers: dict[str, str]
    response_content_type: str | None
    response_body: bytes | None  # None: file data (streamed or bytes), not kept
    fault_injected: bool  # the answer came from a fault rule, not from the emulated API
    routed: bool = True  # False: no route matched (an operation the emulator does not implement)


Observer = Callable[[Exchange], None]
