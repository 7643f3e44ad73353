"""Bad input always gets a DRACOON error body, never a crash or a hung connection."""

from __future__ import annotations

import socket

import pytest


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/nodes/rooms", b"{not json"),
        ("POST", "/nodes/rooms", b"[1, 2]"),
        ("POST", "/nodes/rooms", b"\xff\xfe"),
        ("POST", "/nodes/rooms", b'{"name": 5}'),
        ("POST", "/nodes/rooms", b'{"name": "x", "parentId": "1"}'),
        ("POST", "/nodes/files/uploads", b'{"parentId": 99999999999999999999999, "name": "a"}'),
        ("GET", "/nodes/99999999999999999999999", b""),
        ("GET", "/nodes?parent_id=abc", b""),
        ("GET", "/nodes?depth_level=x", b""),
        ("GET", "/nodes?sort=colour:asc", b""),
        ("GET", "/nodes?filter=type", b""),
        ("GET", "/nodes?filter=timestampCreation:ge:yesterday", b""),
        ("PUT", "/nodes/rooms/1/users", b'{"items": [{"id": true}]}'),
        ("POST", "/nodes/files/keys", b'{"items": [{"fileId": 1, "userId": 1, "fileKey": 3}]}'),
        ("POST", "/nodes/files/uploads/none/s3_urls", b"{}"),
        ("GET", "/no/such/endpoint", b""),
        ("PATCH", "/nodes", b""),
    ],
)
def test_bad_requests_get_error_bodies(api, method, path, body):
    reply = api("service").request(method, path, body=body)
    assert 400 <= reply.status < 500, (reply.status, reply.data)
    error = reply.json()
    assert error["code"] == reply.status and error["message"]


def _exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, read the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(request)
        raw.shutdown(socket.SHUT_WR)
        answer = b""
        while data := raw.recv(4096):
            answer += data
    return answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /api/v4/nodes/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n{}",
        b"garbage\r\n\r\n",
        b"GET /api/v4/nodes HTTP/9.9\r\n\r\n",
    ],
)
def test_malformed_http_is_answered_with_json(emulator, request_bytes):
    answer = _exchange(emulator.port, request_bytes)
    # Unparseable request lines are answered HTTP/0.9 style (body only), as http.server does.
    assert b'"code"' in answer and b'"message"' in answer
    healthy = _exchange(emulator.port, b"GET /api/v4/public/time HTTP/1.1\r\nHost: x\r\n\r\n")
    assert healthy.startswith(b"HTTP/1.1 200")


def test_truncated_body_does_not_hang_the_server(emulator, api):
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as raw:
        raw.sendall(
            b"POST /api/v4/public/time HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"
        )
        raw.shutdown(socket.SHUT_WR)
        raw.recv(4096)
    assert api("service").get("/user/account").status == 200
