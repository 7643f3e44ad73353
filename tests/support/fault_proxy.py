"""A fault-injecting HTTP proxy for the reliability tests, in front of the moto server or
of the DRACOON emulator (the tamper proxy of tests/reliability/test_integrity_write.py).

The service (in-process or as a subprocess) is pointed at ``proxy.url`` instead of the moto
server (``s3.endpointUrl``/``sqs.endpointUrl``) or the emulator (the instance's DRACOON base
URL; the emulator builds upload and presigned URLs from the ``Host`` header, so they lead
through the proxy too); the proxy forwards every request unchanged and, when a rule
matches, breaks the exchange the way real networks, gateways and AWS do:

=================  =========================================================================
``action``         what the client sees
=================  =========================================================================
``reset``          the upstream status and headers, part of the body, then a TCP reset
``short``          the upstream status and headers (full Content-Length), part of the body,
                   then a normal close: a short read
``error``          ``status`` with an AWS error body: S3 XML (``code``, e.g. ``SlowDown``) or,
                   for SQS's JSON protocol, ``{"__type": ..., "message": ...}``
``delay``          ``delay`` seconds of silence, then the normal answer
``drop``           the connection closes before any answer
``trickle``        the upstream status and headers, then the body ``piece`` bytes every
                   ``interval`` seconds: each read gets data in time, the whole never does
``acted_drop``     the request is forwarded and the server acts on it; its answer is
                   thrown away and the connection is reset: nothing reaches the client
``acted_error``    forwarded, the server acts, then the client gets ``status`` (502, 503,
                   504...) with an HTML body, like a gateway that lost the upstream answer
``acted_stall``    forwarded, the server acts, then ``delay`` seconds of silence before the
                   real answer: longer than the client's read timeout, it gives up first
=================  =========================================================================

A rule matches a ``method``, a regex ``path`` (searched in path + query) and, for SQS, a
regex ``operation`` (searched in the ``X-Amz-Target`` header, e.g. ``ReceiveMessage``).
``skip`` lets that many matching requests through first (fault the 2nd chunk, not the 1st),
``count`` caps how often it fires; ``before`` runs in the proxy thread just before the
request is forwarded (e.g. delete the object between HeadObject and GetObject); ``alter``
rewrites the request body on its way (e.g. flip a byte of a chunk). Only
127.0.0.1 is used. SigV4 signatures stay valid because moto does not verify them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_ACTIONS = (
    "reset", "short", "error", "delay", "drop", "trickle",
    "acted_drop", "acted_error", "acted_stall",
)  # fmt: skip
_AFTER_FORWARDING = ("acted_drop", "acted_error", "acted_stall")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
_COPY_CHUNK = 256 * 1024


@dataclass
class ProxyRule:
    action: str  # reset | short | error | delay | drop | trickle
    method: str | None = None
    path: str = ".*"
    operation: str | None = None
    status: int = 503
    code: str = "SlowDown"
    message: str = "Please reduce your request rate."
    delay: float = 0.0
    fraction: float = 0.5  # reset/short: how much of the body gets through
    piece: int = 1  # trickle: bytes per write
    interval: float = 0.2  # trickle: seconds between writes
    count: int | None = None
    skip: int = 0
    before: Callable[[], None] | None = None
    alter: Callable[[bytes], bytes] | None = None  # rewrites the request body it forwards
    fired: int = 0
    skipped: int = 0
    _path: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise ValueError(f"unknown proxy action {self.action!r}")
        self._path = re.compile(self.path)

    def matches(self, method: str, path: str, operation: str) -> bool:
        if self.count is not None and self.fired >= self.count:
            return False
        if self.method and self.method.upper() != method:
            return False
        if self.operation and not re.search(self.operation, operation):
            return False
        return bool(self._path.search(path))


class FaultProxy:
    """Threaded loopback HTTP proxy to ``upstream`` with fault rules; a context manager."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rules: list[ProxyRule] = []
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str, str]] = []  # (method, path, operation)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._connections: set[socket.socket] = set()  # open client connections (stop closes)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close the connections clients keep alive: each one holds a
        handler thread waiting for its next request, which would outlive the test."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, *rules: ProxyRule) -> list[ProxyRule]:
        with self._lock:
            self._rules.extend(rules)
        return list(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def pick(self, method: str, path: str, operation: str) -> ProxyRule | None:
        with self._lock:
            self.requests.append((method, path, operation))
            for rule in self._rules:
                if rule.matches(method, path, operation):
                    if rule.skipped < rule.skip:
                        rule.skipped += 1
                        continue
                    rule.fired += 1
                    return rule
        return None

    def count(self, method: str, pattern: str) -> int:
        """How many requests with ``method`` whose path or operation matched ``pattern``."""
        with self._lock:
            return sum(
                1
                for m, p, op in self.requests
                if m == method and (re.search(pattern, p) or re.search(pattern, op))
            )


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        pass

    Handler.proxy = proxy
    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    proxy: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return None

    def setup(self) -> None:
        super().setup()
        with self.proxy._lock:
            self.proxy._connections.add(self.connection)

    def finish(self) -> None:
        with self.proxy._lock:
            self.proxy._connections.discard(self.connection)
        with contextlib.suppress(OSError, ValueError):  # the socket may be reset already
            super().finish()

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _handle(self) -> None:
        body = self._read_body()
        operation = self.headers.get("X-Amz-Target", "")
        rule = self.proxy.pick(self.command, self.path, operation)
        if rule is not None:
            if rule.before is not None:
                rule.before()
            if rule.delay and rule.action not in _AFTER_FORWARDING:
                time.sleep(rule.delay)
            if rule.action == "drop":
                self._reset()
                return
            if rule.action == "error":
                self._send_error(rule, json_protocol=bool(operation))
                return
        if rule is not None and rule.alter is not None:
            body = rule.alter(body)
        self._forward(body, rule)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes, rule: ProxyRule | None) -> None:
        upstream = http.client.HTTPConnection(*self.proxy.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            if rule is not None and rule.action in _AFTER_FORWARDING:
                self._after_forwarding(rule, response)
                return
            self.send_response_only(response.status, response.reason)
            length = response.getheader("Content-Length")
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            if length is None and self.command != "HEAD":
                data = response.read()
                length = str(len(data))
                self.send_header("Content-Length", length)
                response = _Buffered(data)
            self.end_headers()
            if self.command == "HEAD":
                return
            total = int(length or 0)
            limit = total
            if rule is not None and rule.action in ("reset", "short") and total:
                limit = max(1, int(total * rule.fraction))
            sent = 0
            trickle = rule is not None and rule.action == "trickle"
            while sent < limit:
                if trickle:
                    time.sleep(rule.interval)
                data = response.read(min(rule.piece if trickle else _COPY_CHUNK, limit - sent))
                if not data:
                    break
                self.wfile.write(data)
                if trickle:
                    self.wfile.flush()
                sent += len(data)
            self.wfile.flush()
            if limit < total:
                if rule.action == "reset":
                    self._reset()
                else:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_WR)
        except (OSError, http.client.HTTPException):
            self._reset()
        finally:
            upstream.close()

    def _after_forwarding(self, rule: ProxyRule, response: http.client.HTTPResponse) -> None:
        """The server has acted (its full answer is read); now lose or delay that answer."""
        data = response.read()
        if rule.action == "acted_drop":
            self._reset()
            return
        if rule.action == "acted_stall":
            time.sleep(rule.delay)
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client has usually given up by now
                self.wfile.write(data)
                self.wfile.flush()
            return
        payload = (
            f"<html><head><title>{rule.status} Gateway error</title></head><body>"
            f"<h1>{rule.status}</h1><p>{rule.message}</p></body></html>"
        ).encode()
        self.send_response_only(rule.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _send_error(self, rule: ProxyRule, *, json_protocol: bool) -> None:
        if json_protocol:
            payload = json.dumps(
                {"__type": f"com.amazonaws.sqs#{rule.code}", "message": rule.message}
            ).encode()
            content_type = "application/x-amz-json-1.0"
        else:
            payload = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{rule.code}</Code><Message>{rule.message}</Message>"
                "<RequestId>fault-proxy</RequestId></Error>"
            ).encode()
            content_type = "application/xml"
        self.send_response_only(rule.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", "fault-proxy")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0), like a peer or middlebox dropping the connection."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


class _Buffered:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def read(self, size: int) -> bytes:
        chunk, self._data = self._data[:size], self._data[size:]
        return bytes(chunk)
