"""S3 access for transfers: HeadObject, ranged-GET streaming, delete.

``RangedObjectReader`` is a read-only file object over one S3 object. It fetches the object
in ranges of ``chunk_size`` bytes (``s3.chunkSize``) and streams: ``readinto`` reads the GET
response body straight into the caller's buffer (in pieces of at most ``STREAM_PIECE``
bytes), so the reader holds no chunk of its own. It does not read ahead: the upload
pipeline already does, into its own reused buffers (``dracoon.client.upload``), and a
second copy would only cost memory and a memcpy per byte.

Every range is requested with ``If-Match: <etag>`` from HeadObject, so an object replaced
mid-transfer fails loudly instead of producing a file made of two versions. A range that
breaks off or comes back short is fetched again (``attempts``; when streaming, only its
missing rest); botocore itself retries throttling and 5xx.

Deadlines: botocore's connect and read timeouts (``s3.connectTimeoutSeconds``,
``s3.readTimeoutSeconds``) bound each socket wait, but a body that trickles one byte per
read timeout never trips them. So every ranged GET also has a total deadline
(``s3.rangeDeadlineSeconds``): the time the reader spends waiting for S3 on one GET - the
request and every read of its body, not the time the consumer takes between reads - may not
exceed it. A watchdog shuts the connection down when it passes, the read breaks off, and the
GET counts as one failed attempt; after ``attempts`` the read fails as retryable and the job
keeps the object.

Deleting (``delete_object``) is conditional, so that only the object that was transferred
is ever removed - see its docstring.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .call_threads import CallThreads

log = logging.getLogger(__name__)

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_DENIED = {"403", "AccessDenied", "Forbidden", "AllAccessDisabled"}
_CHANGED = {"412", "PreconditionFailed"}
STREAM_PIECE = 1024 * 1024  # urllib3 reads via a temporary of this size: keep it small
DEFAULT_RANGE_DEADLINE = 300.0  # seconds for one ranged GET (s3.rangeDeadlineSeconds)
CALL_THREADS = CallThreads("s3-call")  # the process's threads for call_within


class S3Error(Exception):
    """An S3 operation failed; ``retryable`` says whether a later retry of the job may help."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class S3ObjectMissingError(S3Error):
    """The object (or its bucket) does not exist."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class S3ObjectChangedError(S3Error):
    """The object is no longer the one HeadObject described (S3 answered 412)."""


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # without quotes
    last_modified: datetime | None = None
    version_id: str | None = None  # set when the bucket has (or had) versioning

    @property
    def pinned_version(self) -> str | None:
        """The version id that names exactly these bytes, or None.

        ``"null"`` is the version of an object written while versioning was off or
        suspended; a later write in a suspended bucket replaces it in place, so it does not
        pin the content the way a real version id does.
        """
        return self.version_id if self.version_id and self.version_id != "null" else None

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def call_within(deadline: float | None, what: str, call: Callable[..., Any], **kwargs: Any) -> Any:
    """Run one boto3 call, but give up waiting after ``deadline`` seconds in total.

    botocore's timeouts bound each socket wait, not the whole call: an answer whose headers
    trickle in never trips them. The call runs in a daemon thread so a stuck one can neither
    wedge the job nor keep the process from exiting; past the deadline a retryable
    ``S3Error`` is raised (the job keeps its object and is retried). ``None`` calls directly.
    The threads are kept for the next call (``CALL_THREADS``): a warm worker starts none.
    """
    if deadline is None:
        return call(**kwargs)
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        threading.current_thread().name = f"s3-call {what}"  # names the call in stack dumps
        try:
            outcome["value"] = call(**kwargs)
        except BaseException as exc:  # handed to the waiting caller below
            outcome["error"] = exc
        finally:
            done.set()

    CALL_THREADS.run(run)
    if not done.wait(deadline):
        raise S3Error(
            f"{what}: no complete answer from S3 within s3.rangeDeadlineSeconds "
            f"({deadline:g} s); retryable, the object is kept"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def head_object(client: Any, bucket: str, key: str, *, deadline: float | None = None) -> ObjectInfo:
    """Size and ETag of ``s3://bucket/key``; S3ObjectMissingError when it does not exist.

    ``deadline`` bounds the whole call (``call_within``)."""
    where = f"s3://{bucket}/{key}"
    try:
        head = call_within(
            deadline, f"HeadObject {where}", client.head_object, Bucket=bucket, Key=key
        )
    except ClientError as exc:
        raise _classify(exc, f"HeadObject {where}") from None
    except BotoCoreError as exc:
        raise S3Error(f"HeadObject {where} failed: {exc}") from None
    return ObjectInfo(
        bucket=bucket,
        key=key,
        size=int(head["ContentLength"]),
        etag=str(head.get("ETag", "")).strip('"'),
        last_modified=head.get("LastModified"),
        version_id=head.get("VersionId") or None,
    )


def delete_object(client: Any, info: ObjectInfo, *, deadline: float | None = None) -> None:
    """Delete exactly the object that HeadObject described, never a newer one.

    - Versioned bucket (``info.pinned_version``): delete that version (``VersionId``). This
      removes those bytes for good - no delete marker, nothing left to restore - and leaves a
      newer version, written while we transferred, current and untouched. It needs the
      ``s3:DeleteObjectVersion`` permission.
    - Otherwise: ``DeleteObject`` with ``If-Match: <etag>`` (S3 conditional delete). S3
      deletes only if the current object still has that ETag and answers 412 otherwise,
      which raises ``S3ObjectChangedError``: the caller keeps the object.

    Some S3-compatible stores ignore ``If-Match`` on DELETE and delete whatever is there
    (docs/operations.md). For them a HeadObject right before the delete shrinks the window
    in which a newer object could be lost from the whole transfer to one round trip.

    An object already gone is fine (an earlier run deleted it): with ``If-Match`` S3
    answers 404 then, without it 204. ``deadline`` bounds each S3 call (``call_within``); a
    delete that runs out may still be carried out later, which a retried job then sees.
    """
    where = f"DeleteObject {info.location}"
    arguments = {"Bucket": info.bucket, "Key": info.key}
    if info.pinned_version:
        arguments["VersionId"] = info.pinned_version
        where += f" version {info.pinned_version}"
    elif info.etag:
        try:
            current = head_object(client, info.bucket, info.key, deadline=deadline)
        except S3ObjectMissingError:
            return  # deleted before (e.g. by a concurrent run of the same job)
        if current.etag != info.etag:
            raise S3ObjectChangedError(
                f"{where}: the object changed since HeadObject (ETag {info.etag} is now "
                f"{current.etag}); not deleted"
            )
        arguments["IfMatch"] = f'"{info.etag}"'
    try:
        call_within(deadline, where, client.delete_object, **arguments)
    except ClientError as exc:
        error = _classify(exc, where)
        if isinstance(error, S3ObjectMissingError) and "IfMatch" in arguments:
            return  # deleted before (e.g. by a concurrent run of the same job)
        raise error from None
    except BotoCoreError as exc:
        raise S3Error(f"{where} failed: {exc}") from None


class RangedObjectReader(io.RawIOBase):
    """Read one S3 object sequentially, streaming it through ranged GETs."""

    def __init__(
        self,
        client: Any,
        info: ObjectInfo,
        chunk_size: int,
        *,
        attempts: int = 3,
        retry_delay: float = 0.5,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self._client = client
        self.info = info
        self.chunk_size = chunk_size
        self._attempts = max(1, attempts)
        self._retry_delay = retry_delay
        self._deadline = DEFAULT_RANGE_DEADLINE if deadline is None else deadline
        self._watchdog = _Watchdog()
        self._spent = 0.0  # seconds this GET has kept us waiting for S3 so far
        self._position = 0
        self._closed_event = threading.Event()
        self.ranges_fetched = 0
        self._body: Any = None  # the open GET body (botocore StreamingBody) of the range
        self._body_end = 0  # streaming: first byte after the current range
        self._range_attempt = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError(f"reader of {self.info.location} is closed")
        target = memoryview(buffer).cast("B")
        if not target.nbytes or self._position >= self.info.size:
            return 0
        return self._stream_into(target)

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._closed_event.set()
            self._drop_body()
            self._watchdog.stop()
        super().close()

    def _stream_into(self, target: memoryview) -> int:
        """Fill ``target`` from the object (up to its end) straight from the GET bodies."""
        wanted = min(target.nbytes, self.info.size - self._position)
        filled = 0
        while filled < wanted:
            if self._body is None:
                self._open_body()
            piece = target[filled : filled + min(STREAM_PIECE, wanted - filled,
                                                 self._body_end - self._position)]  # fmt: skip
            began = time.monotonic()
            self._watchdog.arm(self._body, self._deadline - self._spent)
            try:
                count = self._body.readinto(piece)
                problem = "" if count else "the body ended early"
            except (BotoCoreError, OSError) as exc:  # reset, timeout, protocol error
                count, problem = 0, f"{type(exc).__name__}: {exc}"
            finally:
                self._watchdog.disarm()
                self._spent += time.monotonic() - began
            if self._watchdog.fired:
                count, problem = 0, self._deadline_problem()
            if problem:
                self._retry_rest(problem)
                continue
            filled += count
            self._position += count
            if self._position == self._body_end:
                self._drop_body()
                self.ranges_fetched += 1
                self._range_attempt = 0
        return filled

    def _open_body(self) -> None:
        start = self._position
        if not self._body_end or start >= self._body_end:  # a new range, not a retried rest
            self._body_end = min(start + self.chunk_size, self.info.size)
        end = self._body_end - 1
        where = f"GetObject {self.info.location} bytes {start}-{end}"
        while True:
            if self._closed_event.is_set():
                raise S3Error(f"{where}: reader closed")
            self._range_attempt += 1
            self._spent = 0.0
            began = time.monotonic()
            try:
                response = self._client.get_object(
                    Bucket=self.info.bucket,
                    Key=self.info.key,
                    Range=f"bytes={start}-{end}",
                    **({"IfMatch": f'"{self.info.etag}"'} if self.info.etag else {}),
                )
            except ClientError as exc:
                raise _classify(exc, where) from None
            except (BotoCoreError, OSError) as exc:
                self._wait_before_retry(where, f"{type(exc).__name__}: {exc}")
                continue
            length = int(response.get("ContentLength", end - start + 1))
            if length != end - start + 1:
                response["Body"].close()
                self._wait_before_retry(where, f"got {length} bytes instead of {end - start + 1}")
                continue
            self._body = response["Body"]
            self._spent = time.monotonic() - began
            return

    def _retry_rest(self, problem: str) -> None:
        """The body broke off: fetch the rest of this range again (counts as an attempt)."""
        self._drop_body()
        where = f"GetObject {self.info.location} bytes {self._position}-{self._body_end - 1}"
        self._wait_before_retry(where, problem)

    def _wait_before_retry(self, where: str, problem: str) -> None:
        if self._range_attempt >= self._attempts:
            raise S3Error(f"{where} failed after {self._attempts} attempts: {problem}")
        log.warning("%s: %s; retry %d/%d", where, problem, self._range_attempt, self._attempts)
        time.sleep(self._retry_delay * self._range_attempt)

    def _deadline_problem(self) -> str:
        return (
            f"the answer did not arrive within s3.rangeDeadlineSeconds ({self._deadline:g} s); "
            "the connection was closed"
        )

    def _drop_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            try:
                body.close()
            except Exception:  # closing a broken connection must not hide the real error
                log.debug("closing a GetObject body failed", exc_info=True)


def _classify(exc: ClientError, what: str) -> S3Error:
    error = exc.response.get("Error", {}) if hasattr(exc, "response") else {}
    code = str(error.get("Code", ""))
    status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    if code in _MISSING or status == "404":
        return S3ObjectMissingError(f"{what}: the object does not exist ({code or status})")
    if code in _CHANGED or status == "412":
        return S3ObjectChangedError(
            f"{what}: the object changed since HeadObject (ETag differs); retry"
        )
    if code in _DENIED or status == "403":
        return S3Error(
            f"{what}: access denied ({code or status}); check the service's AWS credentials "
            "and the bucket policy",
            retryable=False,
        )
    return S3Error(f"{what} failed: {code or status} {error.get('Message', '')}".rstrip())


class _Watchdog:
    """Shuts a GET body's connection down when the time armed for reading it runs out.

    Armed only while the reader waits for S3 (``arm`` before a blocking read, ``disarm``
    after), so a consumer that is slow to ask for the next bytes - an upload waiting for
    DRACOON - does not use up S3's deadline. A reader blocked in ``recv`` on a trickling body
    wakes up with an error or an early end of the body; ``fired`` tells it that the
    deadline, not the network, ended the read. Every reader's watchdog is served by the
    process's one ``_WatchdogClock`` thread, so a job starts no thread for it.
    """

    def __init__(self) -> None:
        self.fired = False
        self._body: Any = None
        self._until: float | None = None

    def arm(self, body: Any, seconds: float) -> None:
        with _CLOCK.cond:
            self.fired = False
            self._body, self._until = body, time.monotonic() + max(0.0, seconds)
            _CLOCK.watch(self)

    def disarm(self) -> None:
        with _CLOCK.cond:
            self._body, self._until = None, None
            _CLOCK.armed.discard(self)

    def stop(self) -> None:
        self.disarm()


class _WatchdogClock:
    """The thread that fires every armed ``_Watchdog`` of this process when its time is up.

    Started on first use; it then waits on its condition, costing nothing while no read is
    armed. A forked child starts with no thread and starts its own (``_reset``)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.cond = threading.Condition()
        self.armed: set[_Watchdog] = set()
        self._started = False

    def watch(self, dog: _Watchdog) -> None:
        """With ``cond`` held: ``dog`` was armed; wake the thread for its deadline."""
        self.armed.add(dog)
        if not self._started:
            self._started = True
            threading.Thread(target=self._run, name="s3-read-deadline", daemon=True).start()
        self.cond.notify()

    def _run(self) -> None:
        with self.cond:
            while True:
                now = time.monotonic()
                nearest: float | None = None
                for dog in list(self.armed):
                    assert dog._until is not None
                    if dog._until <= now:
                        dog.fired = True
                        body, dog._body, dog._until = dog._body, None, None
                        self.armed.discard(dog)
                        _shut_down(body)
                    elif nearest is None or dog._until < nearest:
                        nearest = dog._until
                self.cond.wait(None if nearest is None else nearest - now)


_CLOCK = _WatchdogClock()
os.register_at_fork(after_in_child=_CLOCK._reset)


def _shut_down(body: Any) -> None:
    sock = _socket_of(body)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
    else:  # an unknown body type: closing is the best we can do
        with contextlib.suppress(Exception):
            body.close()


def _socket_of(body: Any) -> socket.socket | None:
    """The socket under a botocore StreamingBody (urllib3 response), if it can be found."""
    raw = getattr(body, "_raw_stream", None)
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        return sock
    fp = getattr(getattr(raw, "_fp", None), "fp", None)  # http.client -> socket.SocketIO
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None
