"""A hostile HTTP server for the issue-13 "never wedge a worker" tests (byte level, real HTTP).

``HostileServer(upstream)`` is a proxy in front of a real server (the DRACOON emulator): every
request is forwarded, and the answer of a request that matches a :class:`Rule` is replaced or
rewritten before it goes back. Without an upstream it only answers what its rules say (a
stand-in configurator). What a rule can do:

* ``html()``: 200 with an HTML page (a proxy's error or login page);
* ``json_answer(value)``: 200 with this JSON (the wrong shape);
* ``deep_json(depth)``: 200 with ``[[[...]]]`` nested ``depth`` deep;
* ``huge(size, declare=...)``: 200 with ``size`` bytes, with or without Content-Length;
* ``rewrite(fn)``: the upstream's JSON answer passed through ``fn(answer, query)`` (lying
  pagination totals, repeated pages, more items than asked for);
* ``trickle=seconds``: whatever the answer is, its body is sent one byte per ``seconds``.

``requests`` records every (method, path) seen, so tests can count pages.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: Callable[[], Any] | None = None  # a generator of bytes, sent chunked
    length: int | None = None  # a declared Content-Length other than len(body)


Action = Callable[[Reply | None, dict[str, list[str]]], Reply]


@dataclass
class Rule:
    path: str  # regular expression, searched in the path (without the query)
    action: Action | None = None  # None: the upstream's answer as it is (maybe trickled)
    method: str | None = None
    count: int | None = None  # how many requests it applies to (None: all)
    trickle: float | None = None  # seconds per body byte
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.count is not None and self.hits >= self.count:
            return False
        return re.search(self.path, path) is not None


def _own(action: Action) -> Action:
    """Mark an action that answers by itself: the request is not forwarded upstream."""
    action.needs_upstream = False  # type: ignore[attr-defined]
    return action


def html() -> Action:
    page = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
    return _own(lambda _upstream, _query: Reply(200, {"Content-Type": "text/html"}, page))


def json_answer(value: Any) -> Action:
    body = json.dumps(value).encode()
    return _own(lambda _upstream, _query: Reply(200, {"Content-Type": "application/json"}, body))


def deep_json(depth: int) -> Action:
    body = b"[" * depth + b"]" * depth
    return _own(lambda _upstream, _query: Reply(200, {"Content-Type": "application/json"}, body))


def huge(size: int, *, declare: bool) -> Action:
    """``size`` bytes of a JSON string; ``declare``: with Content-Length, else chunked."""

    def chunks():
        yield b'{"items": "'
        left = size
        block = b"x" * 65536
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)
        yield b'"}'

    def action(_upstream, _query) -> Reply:
        reply = Reply(200, {"Content-Type": "application/json"}, chunks=chunks)
        if declare:
            reply.length = size + 13
        return reply

    return _own(action)


def stall(seconds: float) -> Action:
    """Accept the request and answer nothing for ``seconds`` (then a 200 ``{}``)."""

    def action(_upstream, _query) -> Reply:
        STALLING.wait(seconds)
        return Reply(200, {"Content-Type": "application/json"}, b"{}")

    return _own(action)


STALLING = threading.Event()  # never set: a stall just waits its time


def rewrite(fn: Callable[[Any, dict[str, list[str]]], Any]) -> Action:
    """The upstream's JSON answer, changed by ``fn(answer, query)``."""

    def action(upstream: Reply | None, query) -> Reply:
        assert upstream is not None, "rewrite needs an upstream"
        value = fn(json.loads(upstream.body), query)
        return Reply(upstream.status, {"Content-Type": "application/json"},
                     json.dumps(value).encode())  # fmt: skip

    action.needs_upstream = True  # type: ignore[attr-defined]
    return action


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients cut connections on purpose here (deadlines, caps): not worth a traceback."""


class HostileServer:
    """``with HostileServer("http://127.0.0.1:port") as server: server.url ...``"""

    def __init__(self, upstream: str | None = None, *, keep_host: bool = False) -> None:
        """``keep_host``: forward the client's Host header, so the emulator builds its upload
        URLs on this proxy and chunk uploads pass through it too."""
        self.upstream = urlsplit(upstream) if upstream else None
        self.keep_host = keep_host
        self.rules: list[Rule] = []
        self.requests: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def remove(self, rule: Rule) -> None:
        with self._lock:
            self.rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def count(self, path_pattern: str, method: str | None = None) -> int:
        return sum(
            1
            for m, p in list(self.requests)
            if re.search(path_pattern, p) and (method is None or m == method)
        )

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # -- internals ------------------------------------------------------------------------

    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    return rule
        return None

    def _forward(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        assert self.upstream is not None
        connection = http.client.HTTPConnection(self.upstream.netloc, timeout=60)
        try:
            connection.request(method, target, body=body or None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            kept = {k: v for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP}
            kept.pop("Content-Length", None)
            return Reply(answer.status, kept, data)
        finally:
            connection.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                method = self.command
                parts = urlsplit(self.path)
                server.requests.append((method, parts.path))
                body = self._read_body()
                rule = server._rule_for(method, parts.path)
                upstream = None
                needs_upstream = rule is None or getattr(rule.action, "needs_upstream", True)
                if server.upstream is not None and needs_upstream:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in HOP_BY_HOP and k.lower() != "host"}  # fmt: skip
                    headers["Host"] = self.headers["Host"] if server.keep_host else (
                        server.upstream.netloc)  # fmt: skip
                    upstream = server._forward(method, self.path, headers, body)
                if rule is not None and rule.action is not None:
                    reply = rule.action(upstream, parse_qs(parts.query))
                elif upstream is not None:
                    reply = upstream
                else:
                    reply = Reply(404, {"Content-Type": "text/plain"}, b"no rule")
                self._send(reply, rule.trickle if rule is not None else None)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, reply: Reply, trickle: float | None) -> None:
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.chunks is not None and reply.length is None:
                        self.send_header("Transfer-Encoding", "chunked")
                    else:
                        length = reply.length if reply.length is not None else len(reply.body)
                        self.send_header("Content-Length", str(length))
                    self.end_headers()
                    if reply.chunks is not None:
                        chunked = reply.length is None
                        for chunk in reply.chunks():
                            if server.stopping.is_set():
                                return
                            if chunked:
                                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                            else:
                                self.wfile.write(chunk)
                        if chunked:
                            self.wfile.write(b"0\r\n\r\n")
                    elif trickle:
                        for index in range(len(reply.body)):
                            if server.stopping.wait(trickle):
                                return
                            self.wfile.write(reply.body[index : index + 1])
                            self.wfile.flush()
                    else:
                        self.wfile.write(reply.body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        return Handler


def page_total(total: int) -> Callable[[Any, dict], Any]:
    """``rewrite`` helper: keep the page, claim ``total`` entries."""

    def fn(answer: Any, _query: dict) -> Any:
        answer.setdefault("range", {})["total"] = total
        return answer

    return fn


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
