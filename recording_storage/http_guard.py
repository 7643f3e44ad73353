"""Bounded HTTP calls for the DRACOON and configurator clients: a total deadline per call,
a size cap per answer, and JSON decoding that cannot blow the stack.

Why: urllib3's read timeout restarts with every ``recv``, so a server trickling one byte per
second, or trickling header lines, keeps a call alive forever; an answer of gigabytes fills
memory; ``[[[[...]]]]`` nested ten thousand deep raises RecursionError. Each of them would
wedge or crash a worker.

* ``call_deadline(seconds)`` arms a deadline for the calls made from this thread (one reaper
  thread per process keeps them). Connections of a :func:`pool_manager` register with it when
  they connect or send; when the time is up the reaper shuts the socket down, which ends any
  blocked read or write at once, and every later attempt of the same call (urllib3 retries)
  raises :class:`CallDeadlineExceeded` before it sends anything. The reaper never touches a
  connection after its call released it.
* ``read_capped`` streams a body into memory and stops at ``limit`` bytes.
* ``decode_json`` refuses invalid JSON and nesting deeper than ``max_depth``.

The exceptions here are plain; each client turns them into its own error that names the
endpoint and counts as retryable.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

READ_SIZE = 64 * 1024
# The deadline thread ends this long after the last call: long enough that a busy worker
# keeps one thread across jobs (like aws/call_threads.py), short enough to go when idle.
IDLE_EXIT_SECONDS = 60.0
JSON_MAX_DEPTH = 32  # DRACOON's and the configurator's answers nest fewer than 10 levels


class CallDeadlineExceeded(Exception):
    """A call ran past its total deadline. Deliberately not an OSError/HTTPError subclass:
    urllib3 must let it through instead of retrying."""


class AnswerTooLarge(Exception):
    """An answer is larger than the cap given to :func:`read_capped`."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        self.limit = limit
        self.declared = declared
        size = f"{declared} bytes" if declared is not None else "more bytes"
        super().__init__(f"the answer has {size}, more than the cap of {limit} bytes")


class AnswerNotJson(Exception):
    """A body is not JSON, or nests deeper than allowed."""


class CallWatch:
    """The deadline of one call (all its attempts), shared with the reaper thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.expired = seconds <= 0
        self._done = False
        self._conn: HTTPConnection | None = None
        self._lock = threading.Lock()

    def attach(self, conn: HTTPConnection) -> None:
        """Called by a watched connection before it connects or sends."""
        with self._lock:
            if self.expired:
                raise CallDeadlineExceeded(f"total deadline of {self.seconds:g}s passed")
            self._conn = conn
            # Who may shut the connection down (read by the watched connection class).
            conn._rs_watch = self  # type: ignore[attr-defined]

    def detach(self, conn: object) -> None:
        """The call is done with ``conn`` (it goes back to the pool): never touch it again."""
        with self._lock:
            if self._conn is conn:
                self._conn = None
            if getattr(conn, "_rs_watch", None) is self:
                conn._rs_watch = None  # type: ignore[attr-defined]

    def fire(self) -> None:
        """Time is up: shut down the socket of the call's current attempt, if any."""
        with self._lock:  # held, so the connection cannot change hands meanwhile
            if self._done:
                return
            self.expired = True
            conn = self._conn
            sock = getattr(conn, "sock", None)
            if sock is not None and getattr(conn, "_rs_watch", None) is self:
                # socket.socket's own shutdown: also right for an SSLSocket (its override
                # would reset TLS state another thread is using).
                with contextlib.suppress(OSError, TypeError, ValueError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            if self._conn is not None and getattr(self._conn, "_rs_watch", None) is self:
                self._conn._rs_watch = None  # type: ignore[attr-defined]
            self._conn = None


class _Reaper:
    """One daemon thread per process fires the watches whose time is up (a timer thread per
    call would cost a thread start on every request). It ends after ``IDLE_EXIT_SECONDS``
    without a call in flight and starts again with the next one.

    The thread sleeps until the earliest deadline in its heap (or its idle time) and is woken
    only when a new call is due before that. A call that ends does not wake it: its watch is marked
    done and dropped when the thread next looks (or, once ``PRUNE_AT`` have piled up, by the
    next call). So the calls of a warm job, each with a later deadline than the one before,
    cost no thread switch; waking the thread twice per call cost ~35 us of CPU each."""

    PRUNE_AT = 64  # finished watches kept at most before the next call drops them

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, CallWatch]] = []
        self._count = 0
        self._active = 0
        self._idle_since = time.monotonic()  # when the last call in flight ended
        # The latest the thread will look at the heap again (0: it is awake and will look).
        self._wake_at = 0.0
        self._thread: threading.Thread | None = None

    def add(self, watch: CallWatch) -> None:
        if self._pid != os.getpid():  # forked: the parent's thread does not exist here
            self._reset()
        with self._cond:
            self._count += 1
            self._active += 1
            if len(self._heap) >= self.PRUNE_AT:
                self._heap = [entry for entry in self._heap if not entry[2]._done]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (watch.expires_at, self._count, watch))
            if self._thread is None:
                self._wake_at = 0.0
                self._thread = threading.Thread(
                    target=self._run, name="http-call-deadlines", daemon=True
                )
                self._thread.start()
            elif watch.expires_at < self._wake_at:  # due before the thread would look
                self._wake_at = watch.expires_at
                self._cond.notify()

    def finished(self) -> None:
        with self._cond:
            self._active = max(0, self._active - 1)
            if self._active == 0:
                self._idle_since = time.monotonic()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2]._done:
                        heapq.heappop(self._heap)
                    now = time.monotonic()
                    if not self._heap:
                        idle_for = now - self._idle_since
                        if self._active == 0 and idle_for >= IDLE_EXIT_SECONDS:
                            self._thread = None
                            return
                        self._sleep(now, IDLE_EXIT_SECONDS - idle_for if self._active == 0
                                    else IDLE_EXIT_SECONDS)  # fmt: skip
                        continue
                    wait = self._heap[0][0] - now
                    if wait <= 0:
                        watch = heapq.heappop(self._heap)[2]
                        self._wake_at = 0.0  # looks again after firing it
                        break
                    self._sleep(now, wait)
            watch.fire()

    def _sleep(self, now: float, seconds: float) -> None:
        """Wait on the condition (held) for at most ``seconds``; a call due sooner wakes it."""
        self._wake_at = now + seconds
        self._cond.wait(seconds)
        self._wake_at = 0.0


_reaper = _Reaper()
_local = threading.local()


@contextlib.contextmanager
def call_deadline(seconds: float) -> Iterator[CallWatch]:
    """Bound the calls made from this thread inside the block to ``seconds`` in total."""
    watch = CallWatch(seconds)
    watched = not watch.expired
    if watched:
        _reaper.add(watch)
    previous = getattr(_local, "watch", None)
    _local.watch = watch
    try:
        yield watch
    finally:
        _local.watch = previous
        watch.finish()
        if watched:
            _reaper.finished()


def _detach_current(response: urllib3.BaseHTTPResponse) -> None:
    watch = getattr(_local, "watch", None)
    conn = getattr(response, "connection", None)
    if watch is not None and conn is not None:
        watch.detach(conn)


def _attach_current(conn: HTTPConnection) -> None:
    watch = getattr(_local, "watch", None)
    if watch is not None:
        watch.attach(conn)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        _attach_current(self)
        super().connect()
        _attach_current(self)  # the deadline may have passed while connecting

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        _attach_current(self)
        super().connect()
        _attach_current(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self)
        super().request(*args, **kwargs)


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def pool_manager(**kwargs: Any) -> urllib3.PoolManager:
    """A ``PoolManager`` whose connections obey :func:`call_deadline`."""
    manager = urllib3.PoolManager(**kwargs)
    manager.pool_classes_by_scheme = {
        "http": _WatchedHTTPConnectionPool,
        "https": _WatchedHTTPSConnectionPool,
    }
    return manager


def declared_length(response: urllib3.BaseHTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdigit() or not value.strip().isascii():
        return None
    return int(value.strip())


def read_capped(response: urllib3.BaseHTTPResponse, limit: int) -> bytes:
    """The whole (decoded) body, at most ``limit`` bytes; AnswerTooLarge beyond that.

    A declared ``Content-Length`` over the cap is refused before anything is read. The
    connection of a refused answer is closed, not reused.
    """
    declared = declared_length(response)
    if declared is not None and declared > limit and not response.headers.get("Content-Encoding"):
        discard(response)
        raise AnswerTooLarge(limit, declared)
    parts: list[bytes] = []
    size = 0
    while True:
        data = response.read(min(READ_SIZE, limit + 1 - size))
        if not data:
            break
        parts.append(data)
        size += len(data)
        if size > limit:
            discard(response)
            raise AnswerTooLarge(limit)
    _detach_current(response)
    response.release_conn()
    return b"".join(parts)


def discard(response: urllib3.BaseHTTPResponse) -> None:
    """Close a response whose rest will not be read, so its connection is not reused."""
    with contextlib.suppress(Exception):
        response.close()
    with contextlib.suppress(Exception):
        response.release_conn()


def decode_json(data: bytes, *, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """Decode a JSON answer; AnswerNotJson for anything else or for deep nesting."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise AnswerNotJson(f"JSON nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise AnswerNotJson(f"not JSON ({_looks_like(data)})") from None
    if _depth_exceeds(value, max_depth):
        raise AnswerNotJson(f"JSON nested deeper than {max_depth} levels")
    return value


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    """Iterative, so the check itself cannot recurse too deep."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _looks_like(data: bytes) -> str:
    """A hint for the operator that never echoes the body (it may hold anything)."""
    head = data[:256].lstrip().lower()
    if not head:
        return "empty body"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page, e.g. a proxy's or login page"
    return f"{len(data)} bytes starting with {head[:1]!r}"
