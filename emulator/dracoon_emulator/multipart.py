"""Streaming ``multipart/form-data`` reader: yields the bytes of the ``file`` part only.

The SDKs send upload chunks as a form with one part named ``file``; a chunk can be tens of
MiB, so the part is passed through piece by piece instead of being parsed into memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .errors import ApiError

_MAX_HEADER_BLOCK = 16 * 1024
_NAME = re.compile(rb'\bname="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(rb'\bfilename="', re.IGNORECASE)


def boundary_of(content_type: str) -> str | None:
    """The ``boundary`` parameter of a multipart Content-Type, or None."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary" and value:
            return value.strip().strip('"')
    return None


def iter_file_part(chunks: Iterable[bytes], boundary: str) -> Iterator[bytes]:
    """Yield the content of the part named ``file`` (or the first part with a filename)."""
    source = iter(chunks)
    opening = b"--" + boundary.encode("latin-1")
    delimiter = b"\r\n" + opening
    buffer = bytearray()

    def fill() -> bool:
        data = next(source, b"")
        buffer.extend(data)
        return bool(data)

    # Preamble up to the first boundary line.
    while (index := buffer.find(opening)) < 0:
        if len(buffer) > _MAX_HEADER_BLOCK:
            del buffer[: -len(opening)]
        if not fill():
            raise ApiError(400, -80000, "multipart body has no boundary line")
    del buffer[: index + len(opening)]

    found = False
    while True:
        while len(buffer) < 2 and fill():
            pass
        if buffer[:2] == b"--":
            break  # closing boundary
        # Part headers up to the empty line.
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > _MAX_HEADER_BLOCK or not fill():
                raise ApiError(400, -80000, "multipart part headers are malformed")
        headers = bytes(buffer[:end])
        del buffer[: end + 4]
        wanted = not found and _is_file_part(headers)
        # Part content up to the next delimiter.
        scanned = 0
        while True:
            index = buffer.find(delimiter, max(0, scanned - len(delimiter)))
            if index >= 0:
                if wanted and index:
                    yield bytes(buffer[:index])
                del buffer[: index + len(delimiter)]
                break
            keep = len(delimiter)
            if len(buffer) > keep:
                if wanted:
                    yield bytes(buffer[:-keep])
                del buffer[:-keep]
            scanned = len(buffer)
            if not fill():
                raise ApiError(400, -80000, "multipart body ended without a closing boundary")
        found = found or wanted
    if not found:
        raise ApiError(400, -80000, "multipart body has no part named 'file'")


def _is_file_part(headers: bytes) -> bool:
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() != b"content-disposition":
            continue
        match = _NAME.search(value)
        return (match is not None and match.group(1) == b"file") or bool(_FILENAME.search(value))
    return False
