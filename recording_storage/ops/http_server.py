"""The master's HTTP listener: ``GET /healthcheck`` and ``GET /metrics`` on ``http.address``.

It runs ``http.server`` in one daemon thread of the master and only reads state the master
published (cached probe results, worker liveness) or files the workers wrote (metrics), so
a request can never block supervision nor trigger a probe.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)

HealthView = Callable[[], tuple[int, dict[str, str]]]
MetricsView = Callable[[], tuple[bytes, str]]


class OpsServer:
    """A started listener; :meth:`close` stops it."""

    def __init__(self, address: str, health: HealthView, metrics: MetricsView) -> None:
        host, _, port = address.rpartition(":")
        handler = _make_handler(health, metrics)
        self.httpd = ThreadingHTTPServer((host.strip("[]") or "0.0.0.0", int(port)), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="ops-http",
            daemon=True,
        )

    @property
    def address(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> OpsServer:
        self._thread.start()
        return self

    def fileno(self) -> int:
        return self.httpd.fileno()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def close_in_child(self) -> None:
        """Drop the inherited listening socket in a forked worker (the master serves it)."""
        self.httpd.socket.close()


def _make_handler(health: HealthView, metrics: MetricsView) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "recording-storage"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path == "/healthcheck":
                    status, body = health()
                    self._send(status, json.dumps(body).encode(), "application/json")
                elif path == "/metrics":
                    payload, content_type = metrics()
                    self._send(200, payload, content_type)
                else:
                    self._send(404, b'{"error":"not_found","status":"error"}', "application/json")
            except Exception as error:
                log_event(
                    log,
                    LogCode.HEALTHCHECK_ERROR,
                    f"ops endpoint {path} failed: {type(error).__name__}: {error}",
                    path=path,
                )
                self._send(500, b'{"error":"internal","status":"error"}', "application/json")

        def _send(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("ops http: " + format, *args)

    return Handler
