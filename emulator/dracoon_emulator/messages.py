"""Request and response objects the handlers see, independent of ``http.server``.

Request bodies are exposed as streams (``iter_body``) so uploads of any size pass through
with constant memory; only JSON bodies, which are small by nature, are read whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .errors import ApiError

READ_SIZE = 1024 * 1024
MAX_JSON_BODY = 16 * 1024 * 1024


class BodyReader:
    """Reads a request body framed by Content-Length or chunked transfer encoding."""

    def __init__(self, rfile: BinaryIO, content_length: int | None, chunked: bool) -> None:
        self._rfile = rfile
        self._remaining = content_length or 0
        self._chunked = chunked
        self._chunk_left = 0
        self.finished = not chunked and not self._remaining
        self.capture: bytearray | None = None  # set by an observer: keeps what was read
        self.capture_limit = 0

    def read(self, size: int = READ_SIZE) -> bytes:
        """Return up to ``size`` bytes; ``b""`` at the end of the body."""
        data = self._read(size)
        if self.capture is not None and data:
            if len(self.capture) + len(data) > self.capture_limit:
                self.capture = None  # too large to keep: the observer gets no body
            else:
                self.capture += data
        return data

    def _read(self, size: int) -> bytes:
        if self.finished:
            return b""
        if self._chunked:
            return self._read_chunked(size)
        data = self._rfile.read(min(size, self._remaining))
        if not data:
            raise ApiError(400, -80000, "Request body ended before Content-Length bytes")
        self._remaining -= len(data)
        self.finished = self._remaining == 0
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._rfile.readline(1024)
            try:
                self._chunk_left = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ApiError(400, -80000, "Malformed chunked request body") from None
            if self._chunk_left == 0:
                while self._rfile.readline(1024).strip():  # trailers end with an empty line
                    pass
                self.finished = True
                return b""
        data = self._rfile.read(min(size, self._chunk_left))
        if not data:
            raise ApiError(400, -80000, "Chunked request body ended early")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._rfile.readline(16)  # CRLF after each chunk
        return data

    def drain(self, limit: int) -> bool:
        """Discard what is left (up to ``limit`` bytes); True if the body is fully consumed."""
        while not self.finished and limit > 0:
            data = self.read(min(READ_SIZE, limit))
            limit -= len(data)
        return self.finished


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: BodyReader
    path_params: dict[str, Any] = field(default_factory=dict)
    user: Any = None  # set by authentication for protected routes
    base_url: str = ""  # scheme://host:port as the client reached us
    finish_error: Any = None  # fault injection: an S3 completion that ends in this ApiError

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def iter_body(self) -> Iterator[bytes]:
        while True:
            data = self.body.read()
            if not data:
                return
            yield data

    def read_body(self, limit: int = MAX_JSON_BODY) -> bytes:
        parts = []
        size = 0
        for data in self.iter_body():
            size += len(data)
            if size > limit:
                raise ApiError(413, None, "Request body too large for a JSON call")
            parts.append(data)
        return b"".join(parts)

    def json(self, *, required: bool = True) -> dict:
        """Parse the body as a JSON object (400 -80000 when it is not one)."""
        raw = self.read_body()
        if not raw.strip():
            if required:
                raise ApiError(400, -80000, "Request body is missing")
            return {}
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, -80000, f"Request body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ApiError(400, -80000, "Request body must be a JSON object")
        return value


@dataclass
class FileSlice:
    """A response body streamed from a file: ``length`` bytes starting at ``start``."""

    path: str
    start: int
    length: int


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON, bytes, str, FileSlice, None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


def no_content() -> Response:
    return Response(status=204)
