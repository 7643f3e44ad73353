"""Request counters for the bench: what one job costs in requests to each service it talks to.

- DRACOON: the emulator logs one line per request (``world.RequestCounter``).
- S3: the bench S3 server counts its operations (``GET /_bench/counts``, ``s3_server.py``).
- SQS: ``CountingProxy`` sits between the service and moto and counts each call by its
  operation (``X-Amz-Target`` of the JSON protocol, or ``Action`` of the query protocol).
  moto has no request log of its own that names the operation.
- configurator: ``ConfiguratorServer`` answers the HTTP configurator API
  (``GET /instances/{domain}``) from a dict and counts what it serves -- the service's
  production configurator is HTTP, so the bench uses that, not ``file://``.

``RequestTable`` turns before/after snapshots of all four into the "request kind x count
per job" table of docs/performance.md.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import re
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

Counts = collections.Counter

# DRACOON endpoints whose count is per process (login, key pair, capabilities), not per job.
PER_PROCESS = (
    "POST /oauth/token",
    "GET /api/v4/user/account/keypairs",
    "GET /api/v4/config/info/general",
)
_NUMBERS = re.compile(r"/\d+(?=/|$)")


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.counts: Counts[str] = collections.Counter()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def count(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] += 1

    def snapshot(self) -> Counts[str]:
        with self.lock:
            return collections.Counter(self.counts)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


NEW_CONNECTION = "(new TCP connections)"  # counted like a request kind: keep-alive at work


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.count(NEW_CONNECTION)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (stopped)
                self.close_connection = True


def sqs_operation(headers: Mapping[str, str], body: bytes) -> str:
    """The SQS operation of a request: JSON protocol (``X-Amz-Target: AmazonSQS.X``) or the
    query protocol (``Action=X`` in the form body)."""
    target = headers.get("X-Amz-Target") or ""
    if target:
        return target.rpartition(".")[2]
    action = parse_qs(body.decode("latin-1")).get("Action")
    return action[0] if action else "?"


class CountingProxy(_CountingServer):
    """A reverse proxy to ``upstream`` (moto) counting SQS operations; one upstream
    connection per proxy thread (keep-alive on both sides)."""

    def __init__(self, upstream: str, operation: Callable[[Mapping[str, str], bytes], str]):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.operation = operation
        self.local = threading.local()
        # Cleared: ReceiveMessage waits here (the driver stages redeliveries meanwhile).
        self.receiving = threading.Event()
        self.receiving.set()
        # One ReceiveMessage at a time reaches moto: its receive_message picks visible
        # messages without a lock, so two workers polling at once could both get the same
        # message (seen with 4 workers and 2,000 queued messages: deliveries 2 while the
        # first was still running, and jobs retried for minutes). SQS never does that
        # within the visibility timeout; the bench must not measure moto's race.
        self.receive_lock = threading.Lock()
        super().__init__(_ProxyHandler)

    def connection(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(*self.upstream, timeout=60)
            self.local.conn = conn
        return conn


_NO_LOCK = contextlib.nullcontext()


class _ProxyHandler(_Quiet):
    server: CountingProxy

    def do_POST(self) -> None:
        body = self._body()
        operation = self.server.operation(self.headers, body)
        self.server.count(operation)
        if operation == "ReceiveMessage":
            self.server.receiving.wait(timeout=120)
        with self.server.receive_lock if operation == "ReceiveMessage" else _NO_LOCK:
            self._forward(body)

    def _forward(self, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        for attempt in range(2):  # a keep-alive connection moto closed: reconnect once
            conn = self.server.connection()
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                break
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self.server.local.conn = None
                if attempt:
                    raise
        skip = {"transfer-encoding", "connection", "content-length", "server", "date"}
        self._send(
            answer.status, data, {k: v for k, v in answer.getheaders() if k.lower() not in skip}
        )

    do_GET = do_PUT = do_DELETE = do_HEAD = do_POST


class ConfiguratorServer(_CountingServer):
    """The HTTP configurator API over a dict of instances (``GET /instances/{domain}``)."""

    def __init__(self, instances: Mapping[str, Mapping[str, object]]) -> None:
        self.instances = {k.lower(): dict(v) for k, v in instances.items()}
        super().__init__(_ConfiguratorHandler)


class _ConfiguratorHandler(_Quiet):
    server: ConfiguratorServer

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        if split.path.startswith("/instances/"):
            self.server.count("GET /instances/{domain}")
            found = self.server.instances.get(unquote(split.path[len("/instances/") :]).lower())
            if found is None:
                return self._send(404, b"{}", {"Content-Type": "application/json"})
            return self._send(200, json.dumps(found).encode(), {"Content-Type": "application/json"})
        if split.path == "/instances":
            self.server.count("GET /instances")
            body = json.dumps({"instances": self.server.instances, "next": None}).encode()
            return self._send(200, body, {"Content-Type": "application/json"})
        return self._send(404, b"{}", {"Content-Type": "application/json"})


def dracoon_kind(endpoint: str) -> str:
    """``POST /api/v4/nodes/files/uploads`` -> the same without ``/api/v4``; ids become {id}."""
    method, _, path = endpoint.partition(" ")
    return f"{method} {_NUMBERS.sub('/{id}', path.removeprefix('/api/v4'))}"


class RequestTable:
    """Requests per job by service and kind, from before/after snapshots of every counter."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int]] = []

    def add(self, service: str, before: Counts[str], after: Counts[str], kind=lambda k: k):
        merged: Counts[str] = collections.Counter()
        for key, count in (after - before).items():
            merged[kind(key)] += count
        self.rows += [(service, key, count) for key, count in merged.items() if count]

    def per_job(self, jobs: int) -> dict[str, float]:
        return {f"{service} {kind}": count / jobs for service, kind, count in self.rows}

    def total(self, service: str | None = None, *, per_process: bool | None = None) -> int:
        return sum(
            count
            for s, kind, count in self.rows
            if (service is None or s == service)
            and (per_process is None or is_per_process(s, kind) == per_process)
        )

    def markdown(self, jobs: int, processes: int, title: str) -> str:
        lines = [
            f"{title}: requests per job ({jobs} jobs, {processes} worker process(es))",
            "| service | request | per job | total | note |",
            "|---|---|---|---|---|",
        ]
        order = {"DRACOON": 0, "S3": 1, "SQS": 2, "configurator": 3}
        for service, kind, count in sorted(
            self.rows, key=lambda r: (order.get(r[0], 9), is_per_process(r[0], r[1]), -r[2], r[1])
        ):
            note = "per process" if is_per_process(service, kind) else ""
            lines.append(f"| {service} | {kind} | {count / jobs:.2f} | {count} | {note} |")
        for service in order:
            lines.append(
                f"| {service} | **all, per job** | "
                f"{self.total(service, per_process=False) / jobs:.2f} | "
                f"{self.total(service)} | without per-process requests |"
            )
        return "\n".join(lines)


def is_per_process(service: str, kind: str) -> bool:
    """Login, key pair and capabilities: once per worker process, not per job."""
    return service == "DRACOON" and kind in {dracoon_kind(e) for e in PER_PROCESS}
