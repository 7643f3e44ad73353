"""HTTP transport: one urllib3 pool, retries with backoff + jitter, JSON, DRACOON error parsing.

Why a layer of its own: every other module talks in "method + endpoint + JSON" and gets either
a decoded answer or a :class:`DracoonApiError`; retry rules, timeouts, metrics hooks and the
masking of secrets in messages live in one place.

Bounds (``http_guard``): every call, all its retries included, has a total deadline
(``call_deadline`` seconds plus the time to send its body at ``MIN_SEND_BYTES_PER_SECOND``, and
never more than the current job has left - a call made after the job's deadline, such as
removing an upload channel, gets ``deadlines.CLEANUP_GRACE``); past it the socket is shut down
and the call raises :class:`DracoonDeadlineError`. An answer is read with a size cap
(``max_answer_bytes``, default ``MAX_ANSWER_BYTES``), and a 2xx answer that is too large, not
JSON or nested too deep raises :class:`DracoonAnswerError`. Both are retryable.

Retry rules (``RetryKind``): a call is retried only where a repeat cannot change the result,
so the question for every call is "may the server already have acted on it?" (the per-call
table is in docs/client.md).

``READ``
    GET/HEAD. Retried on connection errors, read timeouts, 429 (honouring ``Retry-After``),
    500, 502, 503, 504: reading twice changes nothing.
``REPEATABLE``
    Writes whose repetition leaves the same state: presigned S3 part PUTs (a part number
    uploaded again replaces the part), presigned-URL requests, setting file keys (users who
    have a key are skipped), deletes (a second one gets 404, which callers read as "gone"),
    token requests, room creation (a repeat gets 409, which its caller turns into a lookup).
    Retried like ``READ`` except on 500, which is more often a bug than an outage.
``SEND_ONCE``
    Calls that must not be repeated once the request may have reached DRACOON: classic chunk
    POSTs (DRACOON appends every chunk it receives, whatever its ``Content-Range`` says, so a
    repeat is stored twice), upload completions (classic ``PUT /uploads/{token}`` and S3
    ``PUT .../s3``) and upload channel creation. Retried only when the request cannot have
    been processed: the connection could not be opened, or 429 (the rate limiter refuses
    before the request is handled). A read timeout, a connection cut after sending, 500, 502,
    503 or 504 raise at once; the caller decides (confirm the server's state, or start the
    upload again on a new channel -- see ``upload.py``).
"""

from __future__ import annotations

import enum
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from recording_storage import deadlines, http_guard
from recording_storage.redact import redact, strip_userinfo

from .errors import (
    DracoonAnswerError,
    DracoonApiError,
    DracoonConnectionError,
    DracoonDeadlineError,
)

log = logging.getLogger(__name__)

USER_AGENT = "recording-storage-dracoon-client/0.1"
JSON_TYPE = "application/json"

# The largest legitimate answer is a page of 500 nodes (/v4/nodes, well under 2 MiB even
# with long notes and every optional field); 8 MiB leaves room and still bounds memory.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024  # only errorCode and a 300-character message are kept
DEFAULT_CALL_DEADLINE = 300.0
# A call that sends a body (a chunk, an S3 part) may take this much longer per byte: a link
# slower than 256 KiB/s would not carry a recording anyway.
MIN_SEND_BYTES_PER_SECOND = 256 * 1024


class RetryKind(enum.Enum):
    """May the call be sent again after the request went out? See the module docstring."""

    READ = "read"
    REPEATABLE = "repeatable"
    SEND_ONCE = "send-once"


_STATUS_FORCELIST = {
    RetryKind.READ: frozenset({429, 500, 502, 503, 504}),
    RetryKind.REPEATABLE: frozenset({429, 502, 503, 504}),
    # 429 only: a 503/502/504 may come from a proxy that forwarded the request and lost the
    # answer, and a 500 from a server that failed after it acted.
    RetryKind.SEND_ONCE: frozenset({429}),
}


class ObservedRetry(Retry):
    """urllib3 ``Retry`` that reports each retry to a callback and backs off from the first one.

    urllib3 retries the first failure immediately; against a rate-limited or overloaded server
    the first wait matters most, so every retry waits ``backoff_factor * 2**(n-1)`` plus jitter
    (``Retry-After`` still wins when the server sends one).
    """

    def __init__(self, *args: Any, on_retry: Callable[[str], None] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.on_retry = on_retry

    def new(self, **kw: Any) -> ObservedRetry:
        kw.setdefault("on_retry", self.on_retry)
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """Only the statuses of the call's kind: urllib3 would also retry any 413/503 that
        carries ``Retry-After``, which for a ``SEND_ONCE`` call may mean "acted, then failed"."""
        if self.status_forcelist is not None and status_code not in self.status_forcelist:
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def get_backoff_time(self) -> float:
        errors = 0
        for entry in reversed(self.history):
            if entry.redirect_location is not None:
                break
            errors += 1
        if errors == 0:
            return 0.0
        value = self.backoff_factor * (2 ** (errors - 1))
        if self.backoff_jitter:
            value += random.random() * self.backoff_jitter  # noqa: S311 - jitter, not crypto
        return float(max(0.0, min(self.backoff_max, value)))

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        new_retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.on_retry is not None:
            if response is not None and response.status:
                reason = f"HTTP {response.status}"
            else:
                reason = type(error).__name__ if error is not None else "unknown"
            try:
                self.on_retry(reason)
            except Exception:  # a metrics hook must never break a transfer
                log.exception("retry hook failed")
        return new_retry


def default_retry() -> Retry:
    """The retry budget used when the caller passes none: about a minute of backoff at most."""
    return ObservedRetry(
        total=6,
        connect=4,
        read=3,
        status=5,
        other=0,
        redirect=0,
        backoff_factor=0.5,
        backoff_max=20.0,
        backoff_jitter=0.5,
        retry_after_max=120,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )


@dataclass(frozen=True)
class ServerLocation:
    """Where the API and the OAuth endpoints of one DRACOON live.

    Accepts ``https://host``, ``https://host/``, ``https://host/api`` and ``https://host/api/v4``
    (the form the original service's configuration used).
    """

    root: str  # https://host[/prefix]
    api: str  # root + /api  (every endpoint path starts with /v4/)
    oauth_token: str

    @classmethod
    def from_base_url(cls, base_url: str) -> ServerLocation:
        # user:password@ is never sent (urllib3 ignores it) and must never be shown: drop it.
        url = strip_userinfo(base_url.strip()).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"DRACOON base URL must be http(s)://host[/api/v4], got {redact(base_url)!r}"
            )
        for suffix in ("/api/v4", "/api"):
            if url.endswith(suffix):
                url = url[: -len(suffix)]
                break
        return cls(root=url, api=url + "/api", oauth_token=url + "/oauth/token")


_TOKEN_PATH = re.compile(r"(/uploads/)[^/?#]+$")
_UPLOAD_ID = re.compile(r"^(/v4/nodes/files/uploads/)[^/?#]+")  # one per upload: not a label
_NUMBER_SEGMENT = re.compile(r"/\d+(?=/|$)")


def endpoint_label(url: str, api_base: str) -> str:
    """Turn a request URL into a label safe for messages, logs and metrics.

    Query strings are dropped (presigned URLs carry signatures there), upload tokens are
    masked, numeric ids and upload ids become ``{id}`` so metrics keep a bounded set of labels.
    """
    if url.startswith(api_base):
        path = url[len(api_base) :]
    else:
        return "<presigned url>"
    path = path.split("?", 1)[0]
    if path.startswith("/v4/uploads/"):
        path = _TOKEN_PATH.sub(r"\1{token}", path)
    path = _UPLOAD_ID.sub(r"\1{id}", path)
    return _NUMBER_SEGMENT.sub("/{id}", path)


def parse_error_body(data: bytes) -> tuple[int | None, str | None]:
    """Return (errorCode, message) from a DRACOON or OAuth error body; tolerate anything."""
    if not data:
        return None, None
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("errorCode")
    message = body.get("message") or body.get("error_description") or body.get("error")
    if message is not None:
        message = redact(str(message)[:300])
    return (code if isinstance(code, int) else None), message


class Transport:
    """A thread-safe HTTP client for one DRACOON server (urllib3 ``PoolManager`` inside)."""

    def __init__(
        self,
        location: ServerLocation,
        *,
        timeout: float = 30.0,
        retry: Retry | None = None,
        events: Any = None,
        pool_maxsize: int = 16,
        call_deadline: float = DEFAULT_CALL_DEADLINE,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.location = location
        self.timeout = urllib3.Timeout(connect=min(timeout, 10.0), read=timeout)
        self.call_deadline = float(call_deadline)
        self.max_answer_bytes = int(max_answer_bytes)
        base_retry = retry if retry is not None else default_retry()
        if not isinstance(base_retry, ObservedRetry):
            base_retry = ObservedRetry(**_retry_params(base_retry))
        self._retry = base_retry
        self._events = events
        # Certificates are always verified for https (urllib3's default, stated explicitly so
        # nobody "fixes" a test by turning it off); plain http only when the URL says so.
        self._pool = http_guard.pool_manager(
            num_pools=8,
            maxsize=pool_maxsize,
            block=False,
            headers={"User-Agent": USER_AGENT},
            cert_reqs="CERT_REQUIRED",
        )

    def url(self, path: str) -> str:
        """Absolute URL for an API path such as ``/v4/nodes``."""
        return self.location.api + path

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        body: bytes | memoryview | Iterable[Any] | None = None,
        headers: Mapping[str, str] | None = None,
        kind: RetryKind = RetryKind.READ,
        preload: bool = True,
        timeout: float | None = None,
        label: str | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request (with retries) and return the response, or raise on status >= 400.

        ``url`` may be an API path (``/v4/...``) or an absolute URL (upload URL, presigned S3
        URL). ``label`` overrides the endpoint name used in errors/metrics.
        """
        url, endpoint = self._resolve(url, label)
        if params:
            query = urlencode({k: v for k, v in params.items() if v is not None})
            url = f"{url}?{query}" if query else url
        send_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            send_headers.setdefault("Content-Type", JSON_TYPE)
        send_headers.setdefault("Accept", JSON_TYPE)
        # urllib3 drops the pool's default headers when a request brings its own
        send_headers.setdefault("User-Agent", USER_AGENT)
        retry = self._retry.new(
            status_forcelist=_STATUS_FORCELIST[kind],
            allowed_methods=None,  # the kind decides, not the verb
            read=0 if kind is RetryKind.SEND_ONCE else self._retry.read,
            on_retry=lambda reason: self._notify_retry(method, endpoint, reason),
        )
        seconds = self._deadline_for(body, send_headers)
        started = time.monotonic()
        with http_guard.call_deadline(seconds) as watch:
            try:
                response = self._pool.request(
                    method,
                    url,
                    # urllib3 sends any buffer (a memoryview too); its hint omits them.
                    body=body,  # type: ignore[arg-type]
                    headers=send_headers,
                    retries=retry,
                    timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout)
                    if timeout
                    else self.timeout,
                    preload_content=False,
                    redirect=False,
                )
            except (
                MaxRetryError,
                Urllib3HTTPError,
                OSError,
                http_guard.CallDeadlineExceeded,
            ) as exc:
                self._notify_response(method, endpoint, 0, time.monotonic() - started)
                if watch.expired:
                    raise self._deadline_error(method, endpoint, seconds) from None
                reason = exc.reason if isinstance(exc, MaxRetryError) else exc
                host = urlsplit(strip_userinfo(url)).netloc
                raise DracoonConnectionError(
                    f"{method} {endpoint} failed: no usable answer from {host} after retries "
                    f"({type(reason).__name__})"
                ) from None
            self._notify_response(method, endpoint, response.status, time.monotonic() - started)
            if response.status >= 400:
                data = self._read(response, method, endpoint, MAX_ERROR_BODY_BYTES, watch, seconds,
                                  tolerate=True)  # fmt: skip
                code, message = parse_error_body(data)
                raise DracoonApiError(
                    method, endpoint, response.status, error_code=code, server_message=message
                )
            if not preload:
                return response  # the caller streams the body (downloads)
            data = self._read(response, method, endpoint, self.max_answer_bytes, watch, seconds)
        return urllib3.HTTPResponse(
            body=data,
            headers=response.headers,
            status=response.status,
            reason=response.reason,
            request_method=method,
            request_url=endpoint,
            preload_content=False,
            decode_content=False,
        )

    def _deadline_for(self, body: Any, headers: Mapping[str, str]) -> float:
        """This call's total deadline: the configured one, more for a large body, and never
        more than the current job has left."""
        seconds = self.call_deadline + _body_length(body, headers) / MIN_SEND_BYTES_PER_SECOND
        left = deadlines.remaining_seconds()
        if left is None:
            return seconds
        return min(seconds, left if left > 0 else deadlines.CLEANUP_GRACE)

    def _read(
        self,
        response: urllib3.BaseHTTPResponse,
        method: str,
        endpoint: str,
        limit: int,
        watch: http_guard.CallWatch,
        seconds: float,
        *,
        tolerate: bool = False,
    ) -> bytes:
        """The body, capped; an error body that cannot be read is simply empty (``tolerate``)."""
        try:
            return http_guard.read_capped(response, limit)
        except http_guard.AnswerTooLarge as exc:
            if tolerate:
                return b""
            raise DracoonAnswerError(method, endpoint, response.status, str(exc)) from None
        except (Urllib3HTTPError, OSError, http_guard.CallDeadlineExceeded, ValueError) as exc:
            http_guard.discard(response)
            if watch.expired:
                raise self._deadline_error(method, endpoint, seconds) from None
            if tolerate:
                return b""
            raise DracoonConnectionError(
                f"{method} {endpoint} failed: the answer broke off ({type(exc).__name__})"
            ) from None

    @staticmethod
    def _deadline_error(method: str, endpoint: str, seconds: float) -> DracoonDeadlineError:
        budget = deadlines.current_budget()
        why = (
            f"the job is {budget.stop_reason()}"
            if budget is not None and budget.stop_reason()
            else f"its total deadline of {seconds:.0f}s passed (e.g. an answer trickling in)"
        )
        return DracoonDeadlineError(f"{method} {endpoint} stopped: {why} (retryable)")

    def request_json(self, method: str, url: str, **kw: Any) -> Any:
        """Like :meth:`request` and decode the JSON body (``None`` for an empty body)."""
        response = self.request(method, url, **kw)
        return decode_json(response, method, self._resolve(url, kw.get("label"))[1])

    def _resolve(self, url: str, label: str | None) -> tuple[str, str]:
        if url.startswith("/"):
            url = self.url(url)
        return url, label or endpoint_label(url, self.location.api)

    def close(self) -> None:
        self._pool.clear()

    def _notify_response(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        hook = getattr(self._events, "on_response", None)
        if hook is not None:
            try:
                hook(method, endpoint, status, seconds)
            except Exception:
                log.exception("response hook failed")

    def _notify_retry(self, method: str, endpoint: str, reason: str) -> None:
        log.info("retrying %s %s after %s", method, endpoint, reason)
        hook = getattr(self._events, "on_retry", None)
        if hook is not None:
            hook(method, endpoint, reason)


def decode_json(response: urllib3.BaseHTTPResponse, method: str, endpoint: str) -> Any:
    """The JSON of a (capped, already read) answer; ``None`` for an empty body.

    Not JSON (an HTML page from a proxy) or nested too deep: DracoonAnswerError naming the
    endpoint, retryable, never a traceback.
    """
    data = response.data
    if not data:
        return None
    try:
        return http_guard.decode_json(data)
    except http_guard.AnswerNotJson as exc:
        raise DracoonAnswerError(method, endpoint, response.status, str(exc)) from None


def _body_length(body: Any, headers: Mapping[str, str]) -> int:
    if body is None:
        return 0
    if isinstance(body, bytes | bytearray | memoryview):
        return len(body)
    length = getattr(body, "length", None)
    if isinstance(length, int):
        return length
    declared = headers.get("Content-Length", "")
    return int(declared) if declared.isascii() and declared.isdigit() else 0


def _retry_params(retry: Retry) -> dict[str, Any]:
    """The constructor arguments of a plain urllib3 ``Retry`` (to wrap it as ObservedRetry)."""
    return {
        "total": retry.total,
        "connect": retry.connect,
        "read": retry.read,
        "redirect": retry.redirect,
        "status": retry.status,
        "other": retry.other,
        "backoff_factor": retry.backoff_factor,
        "backoff_max": retry.backoff_max,
        "backoff_jitter": retry.backoff_jitter,
        "retry_after_max": retry.retry_after_max,
        "respect_retry_after_header": retry.respect_retry_after_header,
        "raise_on_status": False,
        "raise_on_redirect": False,
    }
