"""The master's HTTP listener on ``http.address``: health endpoints and ``/metrics``.

``/healthcheck`` (the original contract), ``/livez``, ``/startupz``, ``/readyz`` and
``/metrics``; ``GET`` and ``HEAD`` on each (``HEAD``: the same status and headers, no body,
what load balancers and some probes send). It runs ``http.server`` in one daemon thread of
the master and only reads state the master published (cached probe results, worker liveness)
or files the workers wrote (metrics), so a request can never block supervision nor trigger a
probe.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)

HealthView = Callable[[], tuple[int, dict[str, str]]]
MetricsView = Callable[[], tuple[bytes, str]]
# A route gets the query parameters and answers (status, JSON document).
JsonView = Callable[[Mapping[str, list[str]]], tuple[int, dict[str, Any]]]

NOT_FOUND = b'{"error":"not_found","status":"error"}'


class OpsServer:
    """A started listener; :meth:`close` stops it.

    ``health`` answers ``/healthcheck``; ``routes`` adds JSON endpoints by path (``/livez``...).
    """

    def __init__(
        self,
        address: str,
        health: HealthView | JsonView,
        metrics: MetricsView,
        routes: Mapping[str, JsonView] | None = None,
    ) -> None:
        host, _, port = address.rpartition(":")
        all_routes: dict[str, JsonView] = {"/healthcheck": _with_query(health)}
        all_routes.update(routes or {})
        handler = _make_handler(all_routes, metrics)
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
        return f"{host!s}:{port}"

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


def _with_query(view: HealthView | JsonView) -> JsonView:
    """Accept both view shapes: ``view()`` and ``view(query)``."""
    try:
        takes_query = bool(inspect.signature(view).parameters)
    except (TypeError, ValueError):
        takes_query = False
    if takes_query:
        return view  # type: ignore[return-value]
    return lambda query: view()  # type: ignore[call-arg]


def _make_handler(
    routes: Mapping[str, JsonView], metrics: MetricsView
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "recording-storage"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def _answer(self, *, body: bool) -> None:
            path, _, query = self.path.partition("?")
            try:
                if path == "/metrics":
                    payload, content_type = metrics()
                    self._send(200, payload, content_type, body)
                elif path in routes:
                    status, document = routes[path](parse_qs(query))
                    self._send(status, json.dumps(document).encode(), "application/json", body)
                else:
                    self._send(404, NOT_FOUND, "application/json", body)
            except Exception as error:
                log_event(
                    log,
                    LogCode.HEALTHCHECK_ERROR,
                    f"ops endpoint {path} failed: {type(error).__name__}: {error}",
                    path=path,
                )
                self._send(500, b'{"error":"internal","status":"error"}', "application/json", body)

        def _send(self, status: int, payload: bytes, content_type: str, body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if body:
                self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("ops http: " + format, *args)

    return Handler
