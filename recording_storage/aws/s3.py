"""S3 access for transfers: HeadObject, ranged-GET streaming with read-ahead, delete.

``RangedObjectReader`` is a read-only file object over one S3 object. It fetches the object
in ranges of ``chunk_size`` bytes (``s3.chunkSize``), in one of two ways:

- ``read_ahead=True``: while the caller consumes one range, the next one is fetched in a
  background thread - at most one range ahead, so memory stays at about two chunks
  whatever the object size. For callers that read in small pieces.
- ``read_ahead=False``: streaming. ``readinto`` reads the GET response body straight into
  the caller's buffer (in pieces of at most ``STREAM_PIECE`` bytes), so the reader holds no
  chunk of its own. Transfers use this: the upload pipeline already reads ahead into its
  own reused buffers (``dracoon.client.upload``), and a second copy would only cost memory
  and a memcpy per byte.

Every range is requested with ``If-Match: <etag>`` from HeadObject, so an object replaced
mid-transfer fails loudly instead of producing a file made of two versions. A range that
breaks off or comes back short is fetched again (``attempts``; when streaming, only its
missing rest); botocore itself retries throttling and 5xx.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_DENIED = {"403", "AccessDenied", "Forbidden", "AllAccessDisabled"}
_CHANGED = {"412", "PreconditionFailed"}
STREAM_PIECE = 1024 * 1024  # urllib3 reads via a temporary of this size: keep it small


class S3Error(Exception):
    """An S3 operation failed; ``retryable`` says whether a later retry of the job may help."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class S3ObjectMissingError(S3Error):
    """The object (or its bucket) does not exist."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # without quotes
    last_modified: datetime | None = None

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def head_object(client, bucket: str, key: str) -> ObjectInfo:
    """Size and ETag of ``s3://bucket/key``; S3ObjectMissingError when it does not exist."""
    where = f"s3://{bucket}/{key}"
    try:
        head = client.head_object(Bucket=bucket, Key=key)
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
    )


def delete_object(client, info: ObjectInfo) -> None:
    """Delete the object (S3 deletes are idempotent: a missing object is fine)."""
    try:
        client.delete_object(Bucket=info.bucket, Key=info.key)
    except ClientError as exc:
        raise _classify(exc, f"DeleteObject {info.location}") from None
    except BotoCoreError as exc:
        raise S3Error(f"DeleteObject {info.location} failed: {exc}") from None


class RangedObjectReader(io.RawIOBase):
    """Read one S3 object sequentially through ranged GETs with bounded read-ahead."""

    def __init__(
        self,
        client,
        info: ObjectInfo,
        chunk_size: int,
        *,
        read_ahead: bool = True,
        attempts: int = 3,
        retry_delay: float = 0.5,
    ):
        super().__init__()
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self._client = client
        self.info = info
        self.chunk_size = chunk_size
        self._attempts = max(1, attempts)
        self._retry_delay = retry_delay
        self._next_start = 0  # first byte of the next range to request
        self._buffer = memoryview(b"")
        self._position = 0
        self._pending: Future[bytes] | None = None
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-read-ahead")
            if read_ahead and info.size > chunk_size
            else None
        )
        self._closed_event = threading.Event()
        self.ranges_fetched = 0
        self._body = None  # streaming: the open GET body of the current range
        self._body_end = 0  # streaming: first byte after the current range
        self._range_attempt = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.closed:
            raise ValueError(f"reader of {self.info.location} is closed")
        target = memoryview(buffer).cast("B")
        if not target.nbytes or self._position >= self.info.size:
            return 0
        if self._executor is None:
            return self._stream_into(target)
        if not self._buffer.nbytes:
            self._buffer = memoryview(self._next_range())
        count = min(target.nbytes, self._buffer.nbytes)
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        self._position += count
        return count

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._closed_event.set()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            self._pending = None
            self._buffer = memoryview(b"")
            self._drop_body()
        super().close()

    # -- streaming (no read-ahead) ----------------------------------------------------------

    def _stream_into(self, target: memoryview) -> int:
        """Fill ``target`` from the object (up to its end) straight from the GET bodies."""
        wanted = min(target.nbytes, self.info.size - self._position)
        filled = 0
        while filled < wanted:
            if self._body is None:
                self._open_body()
            piece = target[filled : filled + min(STREAM_PIECE, wanted - filled,
                                                 self._body_end - self._position)]  # fmt: skip
            try:
                count = self._body.readinto(piece)
                problem = "" if count else "the body ended early"
            except (BotoCoreError, OSError) as exc:  # reset, timeout, protocol error
                count, problem = 0, f"{type(exc).__name__}: {exc}"
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

    def _drop_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            try:
                body.close()
            except Exception:  # closing a broken connection must not hide the real error
                log.debug("closing a GetObject body failed", exc_info=True)

    def _next_range(self) -> bytes:
        if self._pending is not None:
            future, self._pending = self._pending, None
            data = future.result()
        else:
            data = self._fetch(self._next_start)
        self._next_start += len(data)
        if self._executor is not None and self._next_start < self.info.size:
            self._pending = self._executor.submit(self._fetch, self._next_start)
        return data

    def _fetch(self, start: int) -> bytes:
        end = min(start + self.chunk_size, self.info.size) - 1
        expected = end - start + 1
        where = f"GetObject {self.info.location} bytes {start}-{end}"
        last_problem = ""
        for attempt in range(1, self._attempts + 1):
            if self._closed_event.is_set():
                raise S3Error(f"{where}: reader closed")
            try:
                response = self._client.get_object(
                    Bucket=self.info.bucket,
                    Key=self.info.key,
                    Range=f"bytes={start}-{end}",
                    **({"IfMatch": f'"{self.info.etag}"'} if self.info.etag else {}),
                )
                body = response["Body"]
                try:
                    data = body.read()
                finally:
                    body.close()
            except ClientError as exc:
                raise _classify(exc, where) from None
            except (BotoCoreError, OSError) as exc:  # connection reset, timeout, short read
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if len(data) == expected:
                    self.ranges_fetched += 1
                    return data
                last_problem = f"got {len(data)} bytes instead of {expected}"
            if attempt < self._attempts:
                log.warning("%s: %s; retry %d/%d", where, last_problem, attempt, self._attempts)
                time.sleep(self._retry_delay * attempt)
        raise S3Error(f"{where} failed after {self._attempts} attempts: {last_problem}")


def _classify(exc: ClientError, what: str) -> S3Error:
    error = exc.response.get("Error", {}) if hasattr(exc, "response") else {}
    code = str(error.get("Code", ""))
    status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    if code in _MISSING or status == "404":
        return S3ObjectMissingError(f"{what}: the object does not exist ({code or status})")
    if code in _CHANGED or status == "412":
        return S3Error(f"{what}: the object changed since HeadObject (ETag differs); retry")
    if code in _DENIED or status == "403":
        return S3Error(
            f"{what}: access denied ({code or status}); check the service's AWS credentials "
            "and the bucket policy",
            retryable=False,
        )
    return S3Error(f"{what} failed: {code or status} {error.get('Message', '')}".rstrip())
