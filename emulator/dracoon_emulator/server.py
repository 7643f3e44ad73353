"""The HTTP side: ``ThreadingHTTPServer`` + a request handler that hands each request to
``EmulatorApp`` and writes the answer (JSON, text, or a file streamed with sendfile).

``EmulatorServer`` is what tests and the CLI use; it runs in a background thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from .app import EmulatorApp, Outcome
from .errors import ApiError
from .messages import BodyReader, FileSlice, Request, Response
from .observe import CAPTURE_LIMIT, Exchange, Observer

log = logging.getLogger("dracoon_emulator")

_DRAIN_LIMIT = 8 * 1024 * 1024  # an unread body larger than this closes the connection
_JSON = "application/json;charset=UTF-8"


def _structured(content_type: str | None) -> bool:
    """JSON or form bodies: small by nature, worth keeping for an observer (file data is not)."""
    kind = (content_type or "").lower()
    return "json" in kind or "x-www-form-urlencoded" in kind


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    app: EmulatorApp
    observer: Observer | None = None


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DRACOON-Emulator/1"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle + delayed ACK
        # add ~40 ms to every small response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def __getattr__(self, name: str):
        """Any other method (TRACE, QUERY, ...) reaches the router too, which answers 405 on
        a known path like DRACOON, instead of http.server's 501."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors http.server raises itself (malformed request line, headers) as DRACOON JSON."""
        self.close_connection = True
        payload = json.dumps(ApiError(code, None, message, explain).body()).encode("utf-8")
        try:
            self.send_response(code)
            self.send_header("Content-Type", _JSON)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(payload)
        except OSError:
            pass
        log.info("%s -> %s %s", (self.requestline or "-")[:80], code, message or "")

    def log_request(self, code: object = "-", size: object = "-") -> None:
        pass  # one line per request is written by _serve, with redacted paths

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http: " + format, *args)

    def _serve(self) -> None:
        started = time.monotonic()
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length_header = headers.get("content-length")
        body_length = None
        bad_length = False
        if length_header is not None and not chunked:
            if length_header.strip().isdigit():
                body_length = int(length_header)
            else:
                bad_length = True
        body = BodyReader(self.rfile, body_length, chunked)
        if self.server.observer is not None and _structured(headers.get("content-type")):
            body.capture, body.capture_limit = bytearray(), CAPTURE_LIMIT
        req = Request(
            method=self.command,
            path=unquote(split.path) or "/",
            query={k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            headers=headers,
            body=body,
            base_url=f"{self.server.app.settings.url_scheme}://"
            f"{headers.get('host') or self.server.server_address[0]}",
        )
        if bad_length:
            error = ApiError(400, -80000, "Content-Length is not a number")
            outcome = Outcome(Response(400, error.body()), req.path)
            self.close_connection = True
        else:
            outcome = self.server.app.handle(req)
        if outcome.response is None:
            self._observe(req, split.query, body, outcome)
            self._drop()
            self._log(req, 0, started, outcome)
            return
        try:
            if not body.finished and not body.drain(_DRAIN_LIMIT):
                self.close_connection = True
        except (ApiError, OSError):
            self.close_connection = True
        # Before the answer goes out, so a test that got its answer finds the exchange recorded.
        self._observe(req, split.query, body, outcome)
        try:
            sent = self._write(outcome.response, head_only=self.command == "HEAD")
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            sent = -1
        self._log(req, outcome.response.status, started, outcome, sent)

    def _observe(self, req: Request, query: str, body: BodyReader, outcome: Outcome) -> None:
        """Hand the exchange to the observer, if one is set (tests); never fails the server."""
        observer = self.server.observer
        if observer is None:
            return
        response = outcome.response
        captured = body.capture if body.finished else None
        payload: bytes | None = None
        content_type = None
        if response is not None:
            content_type = response.content_type
            if isinstance(response.body, dict | list):
                payload = json.dumps(response.body).encode("utf-8")
                content_type = content_type or _JSON
            elif isinstance(response.body, str):
                payload = response.body.encode("utf-8")
                content_type = content_type or "text/plain;charset=UTF-8"
            elif isinstance(response.body, bytes) and _structured(content_type):
                payload = response.body
            elif response.body is None:
                payload = b""
        exchange = Exchange(
            method=req.method,
            path=req.path,
            query=tuple(parse_qsl(query, keep_blank_values=True)),
            request_headers=dict(req.headers),
            request_body=bytes(captured) if captured is not None else None,
            status=response.status if response is not None else 0,
            response_headers=dict(response.headers) if response is not None else {},
            response_content_type=content_type,
            response_body=payload,
            fault_injected=outcome.fault_injected,
            routed=outcome.routed,
        )
        try:
            observer(exchange)
        except Exception:  # an observer's bug must not take the emulator down
            log.exception("exchange observer failed on %s %s", req.method, outcome.log_path)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _write(self, response: Response, *, head_only: bool) -> int:
        body = response.body
        content_type = response.content_type
        payload: bytes | None = None
        if isinstance(body, FileSlice):
            length = body.length
        else:
            if body is None:
                payload = b""
            elif isinstance(body, bytes):
                payload = body
            elif isinstance(body, str):
                payload = body.encode("utf-8")
                content_type = content_type or "text/plain;charset=UTF-8"
            else:
                payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
                content_type = content_type or _JSON
            length = len(payload)
        self.send_response(response.status)
        if content_type and (length or isinstance(body, FileSlice)):
            self.send_header("Content-Type", content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status != 204:
            self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if head_only or response.status == 204:
            self.wfile.flush()
            return 0
        if payload is not None:
            self.wfile.write(payload)
            self.wfile.flush()
            return length
        self.wfile.flush()
        if body.length > 0:  # sendfile refuses a count of 0 (an empty file)
            with open(body.path, "rb") as handle:
                self.connection.sendfile(handle, body.start, body.length)
        return length

    def _log(
        self, req: Request, status: int, started: float, outcome: Outcome, sent: int = 0
    ) -> None:
        millis = (time.monotonic() - started) * 1000
        who = f" user={outcome.user}" if outcome.user else ""
        reason = ""
        body = outcome.response.body if outcome.response is not None else None
        if status >= 400 and isinstance(body, dict):
            code = body.get("errorCode", body.get("error", ""))
            reason = f" {code} {body.get('message') or body.get('error_description', '')}"
        log.info(
            "%s %s -> %s%s (%.1f ms%s)", req.method, outcome.log_path, status, reason, millis, who
        )


class EmulatorServer:
    """A DRACOON API v4 emulator listening on ``host:port`` (0 = any free port).

    Without ``state_dir`` everything lives in a temporary directory removed by ``stop()``;
    with it, state and file content persist across restarts.
    """

    def __init__(
        self,
        seed: dict | str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: str | Path | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._temp_dir: str | None = None
        if state_dir is None:
            self._temp_dir = tempfile.mkdtemp(prefix="dracoon-emulator-")
            data_dir = Path(self._temp_dir)
        else:
            data_dir = Path(state_dir)
            data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.app = EmulatorApp(seed, data_dir, persist=state_dir is not None)
            self._httpd = _HTTPServer((host, port), _RequestHandler)
        except BaseException:
            self._cleanup()
            raise
        self._httpd.app = self.app
        self._httpd.observer = observer  # tests: sees every exchange (contract checks)
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/v4"

    def start(self) -> EmulatorServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"dracoon-emulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` (or KeyboardInterrupt)."""
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        self.app.backend.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
