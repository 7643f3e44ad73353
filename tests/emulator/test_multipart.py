"""Unit tests of the streaming multipart reader (boundaries split across reads)."""

from __future__ import annotations

import pytest
from dracoon_emulator.errors import ApiError
from dracoon_emulator.multipart import boundary_of, iter_file_part

BOUNDARY = "b0und4ry"


def _body(*parts: tuple[str, bytes]) -> bytes:
    out = b"preamble\r\n"
    for disposition, content in parts:
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def _split(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("piece", [1, 3, 7, 64, 10_000])
def test_file_part_is_found_whatever_the_read_size(piece):
    content = b"\r\n--b0und4r" + bytes(range(256)) * 20 + b"\r\n-"
    body = _body(
        ('form-data; name="meta"', b"ignored"),
        ('form-data; name="file"; filename="upload"', content),
    )
    assert b"".join(iter_file_part(_split(body, piece), BOUNDARY)) == content


def test_errors_and_boundary_parsing():
    assert boundary_of('multipart/form-data; boundary="abc"') == "abc"
    assert boundary_of("multipart/form-data") is None
    with pytest.raises(ApiError):
        list(iter_file_part([b"no boundary here"], BOUNDARY))
    with pytest.raises(ApiError):
        list(iter_file_part([_body(('form-data; name="other"', b"x"))], BOUNDARY))
    truncated = _body(('form-data; name="file"', b"abc"))[:-20]
    with pytest.raises(ApiError):
        list(iter_file_part([truncated], BOUNDARY))
