"""Streaming uploads: classic chunks or S3 direct parts, encrypted on the fly when needed.

Memory is bounded by a few chunk buffers whatever the file size: the source is read into a
reused buffer, encrypted in place, sent, and the buffer is only reused after the server
acknowledged it. Reading/encrypting the next chunk overlaps with sending the current one;
S3 parts can additionally be sent in parallel (they are independent by design), classic
chunks are sent strictly in order (the server appends them as they arrive).

What is sent again, and what is not (the per-call table is in docs/client.md):

- An S3 part is idempotent (the same part number uploaded again replaces the part), so a
  failed part is retried with the kept bytes, with a freshly presigned URL after a 403.
- A classic chunk is not: DRACOON appends every chunk it receives and ignores
  ``Content-Range`` (the official Python SDK sends ``bytes 0-0/size`` on every chunk), so a
  chunk whose answer was lost (read timeout, cut connection, 5xx from a proxy after the body
  went out) may already be stored, and resending it would store it twice. It is never
  resent: the upload fails with :class:`UploadInterruptedError`, the channel is cancelled
  (which discards what was stored) and the caller starts again from byte 0 on a new channel
  with a fresh read of its source. Restarting here is not possible: the source is a stream
  and the GCM state cannot be rewound.
- The classic completion and channel creation are not repeated either
  (``UploadInterruptedError``, ``completion=True`` when the file may exist after all).
- The S3 completion (``PUT .../s3``) is confirmed instead of repeated: after a lost answer
  the upload's status tells whether DRACOON accepted it (``finishing``/``done``/``error``:
  wait for it as usual) or not (``transfer``: sending it again is safe).

Any failure or a set ``cancel`` event removes the upload channel before the exception
propagates, so no half-uploaded file ever appears in the room.

What was sent is hashed (``UploadOptions.verify_hash``): the MD5 of every byte that went out
-- the ciphertext in encrypted rooms -- is formed in the thread that encrypts the chunks in
file order (never in the parallel senders), and returned with the new file
(``UploadedFile.sent_md5``, next to the file key an encrypted upload sent). The client
compares it with the ``hash`` DRACOON reports for the new file (``client.verify_stored_hash``):
a chunk altered on its way keeps its length, so only the hash shows it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Protocol, runtime_checkable

from recording_storage.deadlines import carry_context
from recording_storage.dracoon.crypto import (
    FileEncrypter,
    PlainFileKey,
    UserKeyPair,
    encrypt_file_key,
)
from recording_storage.waits import Mark, Signal, cancel_wakes, recheck_at, wait_for_cancel

from .auth import AuthorizedApi
from .chunk_budget import ChunkBudget, process_budget
from .errors import (
    DracoonApiError,
    DracoonConnectionError,
    DracoonError,
    UploadCancelledError,
    UploadError,
    UploadInterruptedError,
)
from .models import Node, format_datetime
from .transport import RetryKind

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_CHUNK_SIZE = 20 * MiB
S3_MIN_PART_SIZE = 5 * MiB
S3_MAX_PARTS = 10_000
S3_URL_BATCH = 16  # presigned URLs are requested a few at a time: they expire
RESOLUTION_STRATEGIES = ("autorename", "overwrite", "fail")
S3_PENDING_STATUSES = ("transfer", "finishing")  # S3 completion not final yet
CHANNEL_CLOSED = -20503  # errorCode: "Upload channel is closed" (completion accepted)


@dataclass(frozen=True)
class UploadOptions:
    """Client-wide upload tuning (the per-call arguments live on ``upload``)."""

    s3_parallel_parts: int = 2
    classic_multipart: bool = False  # raw chunk bodies by default: no copy, same effect
    s3_completion_timeout: float = 600.0
    s3_poll_initial: float = 0.1
    s3_poll_max: float = 2.0
    read_ahead: bool = True  # read the next chunk while this one is encrypted and sent
    verify_hash: bool = True  # MD5 of the bytes sent, compared with DRACOON's Node.hash


@dataclass
class UploadJob:
    parent: Node
    name: str
    source: BinaryIO
    size: int
    expire_at: datetime | None
    notes: str | None
    resolution: str
    chunk_size: int
    progress: Callable[[int], None] | None
    cancel: threading.Event | None
    key_pair: UserKeyPair | None  # set when the room is encrypted


@dataclass(frozen=True)
class SentFileKey:
    """The file key an encrypted upload sent with its completion: the ``fileKey`` JSON
    (wrapped for the uploader's key pair) and the plain key in it, so the client can hand
    the key to the room's readers without unwrapping it again (``RecentFileKeys``)."""

    wrapped: dict[str, Any]
    plain: PlainFileKey


@dataclass(frozen=True)
class UploadedFile:
    """What one upload returns: the new file and what the client still checks or keeps."""

    node: Node
    # Hex MD5 of the bytes sent, in file order (``UploadOptions.verify_hash``, else None):
    # what DRACOON's ``hash`` of the new file must be.
    sent_md5: str | None
    file_key: SentFileKey | None  # encrypted rooms only


class Uploader:
    """Runs uploads for one account; stateless between uploads (thread-safe)."""

    def __init__(self, api: AuthorizedApi, options: UploadOptions | None = None) -> None:
        self._api = api
        self.options = options or UploadOptions()

    def upload(self, job: UploadJob, *, s3: bool) -> UploadedFile:
        _check_cancel(job)
        channel = self._create_channel(job, s3)
        try:
            if s3:
                uploaded = _S3Upload(self._api, self.options, job, channel).run()
            else:
                uploaded = _ClassicUpload(self._api, self.options, job, channel).run()
        except BaseException as exc:
            self._cancel_channel(channel, job.name)
            if isinstance(exc, DracoonApiError) and exc.context is None:
                raise exc.with_context(
                    f"uploading {job.name!r} into room {job.parent.id}"
                ) from None
            raise
        log.info(
            "uploaded %r (%d bytes) into room %s as node %s",
            job.name,
            job.size,
            job.parent.id,
            uploaded.node.id,
        )
        return uploaded

    def _create_channel(self, job: UploadJob, s3: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "parentId": job.parent.id,
            "name": job.name,
            "size": job.size,
            "directS3Upload": s3,
        }
        if job.notes is not None:
            body["notes"] = job.notes
        if job.expire_at is not None:
            body["expiration"] = {
                "enableExpiration": True,
                "expireAt": format_datetime(job.expire_at),
            }
        where = f"creating the upload channel for {job.name!r} in room {job.parent.id}"
        try:
            channel = self._api.call(
                "POST", "/v4/nodes/files/uploads", json_body=body, kind=RetryKind.SEND_ONCE
            )
        except (DracoonApiError, DracoonConnectionError) as exc:
            if may_have_acted(exc):
                # A channel may exist that we cannot name; it never becomes a file and
                # DRACOON removes it when it expires.
                raise UploadInterruptedError(f"{where}: {exc}") from None
            if isinstance(exc, DracoonApiError):
                raise exc.with_context(where) from None
            raise
        if not isinstance(channel, dict) or not (channel.get("uploadId") or channel.get("token")):
            raise UploadError(
                f"creating the upload channel for {job.name!r}: answer lacks uploadId"
            )
        if not channel.get("uploadUrl") and channel.get("token"):
            channel["uploadUrl"] = self._api.transport.url(f"/v4/uploads/{channel['token']}")
        return channel

    def _cancel_channel(self, channel: dict[str, Any], name: str) -> None:
        """Best effort: a failed cancel must not hide the original error."""
        try:
            if channel.get("uploadUrl"):
                self._api.transport.request(
                    "DELETE", channel["uploadUrl"], kind=RetryKind.REPEATABLE, timeout=10.0
                )
            else:
                self._api.request(
                    "DELETE",
                    f"/v4/nodes/files/uploads/{channel['uploadId']}",
                    kind=RetryKind.REPEATABLE,
                    timeout=10.0,
                )
            log.info("cancelled the upload channel of %r", name)
        except DracoonApiError as exc:
            if exc.status != 404:  # 404: already gone (completed or expired)
                log.warning("cancelling the upload channel of %r failed: %s", name, exc)
        except DracoonError as exc:
            log.warning("cancelling the upload channel of %r failed: %s", name, exc)


def may_have_acted(exc: BaseException) -> bool:
    """Did a ``SEND_ONCE`` call fail in a way where DRACOON may have acted on it anyway?

    A connection error after the retries (the answer never came, or the connection was cut
    after the request went out) and any 5xx (a proxy losing the answer, a server failing
    after it stored the data) may; a 4xx is DRACOON refusing the request, which it did not
    carry out.
    """
    if isinstance(exc, DracoonConnectionError):
        return True
    return isinstance(exc, DracoonApiError) and exc.status >= 500


def _channel_closed(exc: BaseException) -> bool:
    """DRACOON refused an S3 completion because the channel no longer takes one."""
    return isinstance(exc, DracoonApiError) and (
        exc.error_code == CHANNEL_CLOSED or exc.status == 404
    )


def _check_cancel(job: UploadJob) -> None:
    if job.cancel is not None and job.cancel.is_set():
        raise UploadCancelledError(f"upload of {job.name!r} cancelled")


def _read_exact(source: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``source``; return the bytes read (less only at end of stream)."""
    filled = 0
    readinto = getattr(source, "readinto", None)
    while filled < len(view):
        if readinto is not None:
            n = readinto(view[filled:])
        else:
            data = source.read(len(view) - filled)
            n = len(data) if data else 0
            view[filled : filled + n] = data or b""
        if not n:
            break
        filled += n
    return filled


@runtime_checkable
class SharedReadable(Protocol):
    """A source shared with other uploads (a read-once branch, ``jobs.tee``): it tells
    whether its next bytes can be read without waiting for another upload."""

    def wait_readable(
        self, nbytes: int, timeout: float | None = None, *, until: Mark | None = None
    ) -> bool: ...


class _Pipeline:
    """Read, encrypt and send chunks as three overlapping stages.

    - a reader thread fills free buffers from the source (the next chunk is read while the
      current one is encrypted and sent - for S3 sources that is the read-ahead);
    - the caller's thread encrypts each filled buffer in place, strictly in order (one GCM
      stream), and hands it to a sender;
    - ``senders`` threads send.

    An upload of at most one chunk -- most recordings of a short meeting -- has nothing to
    overlap (the one chunk is read, then encrypted, then sent), so it runs every stage in
    the caller's thread and starts no thread at all (``_run_in_caller``); a worker doing
    many small jobs would otherwise start and end two threads per upload.

    At most ``senders + 2`` chunk buffers are in use (``senders + 1`` without
    ``read_ahead``). They come from the process's ``ChunkBudget``, shared with every other
    upload (all targets of a job upload at once), and go back to it once their send returned
    (acknowledged), which is what keeps every retry able to resend the same ciphertext. A
    buffer is only taken when the source can fill it without waiting for another upload
    (``wait_readable`` of a read-once branch, jobs.tee): a held buffer never waits for
    another upload, so the shared budget cannot deadlock.

    Waiting: a stage waits for one thing at a time (a free slot, a readable source, memory,
    a filled buffer, a sent chunk), and each such wait also ends at the next change of this
    upload, announced on one ``waits.Signal`` (``_changed``): a send finished, the reader
    filled a buffer, the pipeline stopped, or the job's cancel event was set
    (``waits.cancel_wakes``). The waiter then sees to what changed -- reaps sent chunks,
    reports progress, raises a send's error or the cancel -- and waits again. No wait ends
    on a timer, but at ``waits.recheck_at(cancel)`` for a cancel event that can become set
    without telling anyone (a job's deadline, a plain ``threading.Event``).
    """

    def __init__(
        self,
        job: UploadJob,
        chunk_len: int,
        senders: int,
        read_ahead: bool,
        budget: ChunkBudget | None = None,
        *,
        hash_sent: bool = False,
    ) -> None:
        self.job = job
        self.senders = senders
        self.read_ahead = read_ahead
        self.chunk_len = chunk_len
        self.budget = budget or process_budget()
        source = job.source
        self._shared_source = source if isinstance(source, SharedReadable) else None
        # _lock guards the slots, the buffers out, the filled queue and the flags below.
        self._lock = threading.Lock()
        self._free_slots = senders + (2 if read_ahead else 1)  # this upload's buffers
        self._out: dict[int, bytearray] = {}  # buffers taken from the budget, not yet returned
        self._closed = self._reader_done = False  # who gives back the last buffers (below)
        self._filled: deque[tuple[bytearray, memoryview] | BaseException] = deque()
        self._stopped = False
        self._changed = Signal()  # every change a stage may be waiting for (class doc)
        self.encrypter = FileEncrypter(PlainFileKey.generate()) if job.key_pair else None
        # One MD5 over the bytes sent, fed in file order by the encrypting thread (hashlib
        # releases the GIL for large buffers, so the senders and the reader keep going).
        self.sent_md5 = hashlib.md5(usedforsecurity=False) if hash_sent else None
        self.done_bytes = 0

    def run(
        self, chunks: list[tuple[int, int]], send: Callable[[int, int, memoryview], Any]
    ) -> list[Any]:
        """Send every (offset, length) chunk; return the send results in chunk order."""
        with cancel_wakes(self.job.cancel, self._changed):
            if len(chunks) <= 1:
                return self._run_in_caller(chunks, send)
            return self._run_overlapped(chunks, send)

    def _run_overlapped(
        self, chunks: list[tuple[int, int]], send: Callable[[int, int, memoryview], Any]
    ) -> list[Any]:
        results: list[Any] = [None] * len(chunks)
        pending: dict[Future[Any], tuple[int, int]] = {}
        executor = ThreadPoolExecutor(max_workers=self.senders, thread_name_prefix="dracoon-up")
        reader = None
        if self.read_ahead:
            reader = threading.Thread(
                target=self._read_all, args=(chunks,), name="dracoon-read", daemon=True
            )
            reader.start()
        try:
            for index, (offset, length) in enumerate(chunks):
                if reader is None:
                    buffer = self._next_buffer(pending, results, length)
                    view = self._fill(buffer, offset, length)
                else:
                    buffer, view = self._next_filled(pending, results)
                if self.encrypter is not None:
                    self.encrypter.encrypt(view, output=view)
                if self.sent_md5 is not None:
                    self.sent_md5.update(view)
                future = executor.submit(carry_context(send), index, offset, view)
                future.add_done_callback(functools.partial(self._give_back_when_sent, buffer))
                pending[future] = (index, len(view))
            if reader is None:
                self._check_source_end()
            else:
                self._next_filled(pending, results, end=True)
            self._wait_sent(pending, results)
            return results
        except UploadCancelledError:
            # The sends under way finish first anyway (the executor waits for them, each
            # bounded by the job's deadline). One that failed says more about why the job
            # stopped -- a call that hung until the deadline names itself -- than the cancel.
            self._stop()
            for future in pending:
                future.cancel()
            executor.shutdown(wait=True, cancel_futures=True)
            failed = _first_failure(pending)
            if failed is not None:
                raise failed from None
            raise
        finally:
            self._stop()
            for future in pending:
                future.cancel()
            executor.shutdown(wait=True, cancel_futures=True)
            if reader is not None:
                reader.join(timeout=5.0)  # it stops at its next buffer or when reads fail
            # Senders are done. The reader may still be inside a slow read into a buffer:
            # then it gives everything back itself when that read returns.
            with self._lock:
                self._closed = True
                reader_done = reader is None or self._reader_done
            if reader_done:
                self._give_back_all()

    def _run_in_caller(
        self, chunks: list[tuple[int, int]], send: Callable[[int, int, memoryview], Any]
    ) -> list[Any]:
        """``run`` for no or one chunk: read, check the source's end, encrypt and send in
        this thread. The buffer comes from the budget the same way (a slot, a readable
        source, then memory) and goes back once the send returned or failed."""
        results: list[Any] = [None] * len(chunks)
        try:
            for index, (offset, length) in enumerate(chunks):
                _check_cancel(self.job)
                buffer = self._take_buffer(length, lambda: True)
                assert buffer is not None  # only a see_to that returns False gives up
                view = self._fill(buffer, offset, length)
                self._check_source_end()  # a longer source is refused before anything is sent
                if self.encrypter is not None:
                    self.encrypter.encrypt(view, output=view)
                if self.sent_md5 is not None:
                    self.sent_md5.update(view)
                _check_cancel(self.job)
                results[index] = send(index, offset, view)
                self._give_back(buffer)
                self.done_bytes += length
                if self.job.progress is not None:
                    self.job.progress(self.done_bytes)
            if not chunks:
                self._check_source_end()
            return results
        finally:
            self._stop()
            with self._lock:
                self._closed = self._reader_done = True
            self._give_back_all()

    def sent_hash(self) -> str | None:
        """Hex MD5 of every byte handed to the senders (call after ``run`` returned)."""
        return self.sent_md5.hexdigest() if self.sent_md5 is not None else None

    def file_key(self) -> PlainFileKey | None:
        return self.encrypter.finalize() if self.encrypter is not None else None

    # -- waiting --------------------------------------------------------------------------

    def _stop(self) -> None:
        """The pipeline is over (done or failed): a reader still waiting gives up."""
        with self._lock:
            self._stopped = True
        self._changed.notify()

    def _running(self) -> bool:
        with self._lock:
            return not self._stopped

    def _recheck_at(self) -> float | None:
        return recheck_at(self.job.cancel)

    def _recheck_in(self) -> float | None:
        at = self._recheck_at()
        return None if at is None else max(0.0, at - time.monotonic())

    # -- reading --------------------------------------------------------------------------

    def _fill(self, buffer: bytearray, offset: int, length: int) -> memoryview:
        view = memoryview(buffer)[:length]
        got = _read_exact(self.job.source, view)
        if got != length:
            raise UploadError(
                f"source of {self.job.name!r} ended after {offset + got} of "
                f"{self.job.size} bytes; nothing was stored"
            )
        return view

    def _read_all(self, chunks: list[tuple[int, int]]) -> None:
        """Reader thread: fill free buffers in chunk order, then check the source's end."""
        try:
            for offset, length in chunks:
                buffer = self._take_buffer(length, self._running)
                if buffer is None:
                    return
                self._hand_over((buffer, self._fill(buffer, offset, length)))
            self._check_source_end()
            self._hand_over(_END_OF_SOURCE)
        except BaseException as exc:  # handed to the encrypting thread, raised there
            self._hand_over(exc)
        finally:
            with self._lock:
                self._reader_done = True
                closed = self._closed
            if closed:  # the pipeline ended while this thread still read
                self._give_back_all()

    def _hand_over(self, item: tuple[bytearray, memoryview] | BaseException) -> None:
        """Reader thread: queue a filled buffer (or the end, or the read's error)."""
        with self._lock:
            self._filled.append(item)
        self._changed.notify()

    # -- buffers from the budget ----------------------------------------------------------

    def _take_buffer(self, length: int, see_to: Callable[[], bool]) -> bytearray | None:
        """A buffer for the next ``length`` bytes: a slot of this upload, a source that can
        fill it at once, then memory from the budget (in this order: see the class doc).
        Raises UploadCancelledError once cancelled. Each wait also ends at the next change
        of this upload, and ``see_to()`` runs before every try: it may reap sent chunks,
        raise, or return False to give up (then ``None``)."""
        slot = False
        try:
            while True:
                mark = self._changed.mark()
                _check_cancel(self.job)
                if not see_to():
                    return None
                if not slot:
                    slot = self._take_slot()
                    if not slot:
                        mark.wait(self._recheck_at())
                        continue
                shared = self._shared_source
                if shared is not None and not shared.wait_readable(
                    length, self._recheck_in(), until=mark
                ):
                    continue
                buffer = self.budget.acquire(
                    self.chunk_len, until=mark, deadline=self._recheck_at()
                )
                if buffer is None:
                    continue
                with self._lock:
                    self._out[id(buffer)] = buffer
                slot = False  # the buffer holds it now: _give_back returns both
                return buffer
        finally:
            if slot:
                self._release_slot()

    def _take_slot(self) -> bool:
        with self._lock:
            if not self._free_slots:
                return False
            self._free_slots -= 1
            return True

    def _release_slot(self) -> None:
        with self._lock:
            self._free_slots += 1
        self._changed.notify()

    def _give_back(self, buffer: bytearray) -> None:
        """Return a buffer whose chunk was acknowledged (or abandoned); idempotent."""
        with self._lock:
            if self._out.pop(id(buffer), None) is None:
                return
        self.budget.release(buffer)
        self._release_slot()

    def _give_back_when_sent(self, buffer: bytearray, _sent: Future[Any]) -> None:
        """A send's done-callback: its chunk was acknowledged or abandoned."""
        self._give_back(buffer)

    def _give_back_all(self) -> None:
        """The pipeline is over: whatever it still holds goes back (filled but never sent,
        or taken by a read that failed)."""
        with self._lock:
            buffers = list(self._out.values())
        for buffer in buffers:
            self._give_back(buffer)
        self.budget.trim()

    def _next_filled(
        self, pending: dict[Future[Any], tuple[int, int]], results: list[Any], *, end: bool = False
    ) -> tuple[bytearray, memoryview]:
        """The reader's next filled buffer (``end``: its end-of-source marker instead),
        seeing to sent chunks while waiting for it."""
        while True:
            mark = self._changed.mark()
            _check_cancel(self.job)
            self._reap(pending, results)
            with self._lock:
                item = self._filled.popleft() if self._filled else None
            if item is None:
                mark.wait(self._recheck_at())
                continue
            if isinstance(item, BaseException):
                if item is _END_OF_SOURCE and end:
                    return bytearray(), memoryview(b"")
                raise item
            return item

    def _next_buffer(
        self, pending: dict[Future[Any], tuple[int, int]], results: list[Any], length: int
    ) -> bytearray:
        """Without read-ahead: a free buffer for the caller's thread to fill, seeing to
        sent chunks while waiting for it."""

        def see_to() -> bool:
            self._reap(pending, results)
            return True

        buffer = self._take_buffer(length, see_to)
        assert buffer is not None  # see_to never gives up
        return buffer

    # -- sending --------------------------------------------------------------------------

    def _wait_sent(self, pending: dict[Future[Any], tuple[int, int]], results: list[Any]) -> None:
        """Until every chunk is acknowledged; raises a send's error or the cancel."""
        while pending:
            mark = self._changed.mark()
            _check_cancel(self.job)
            self._reap(pending, results)
            if pending:
                mark.wait(self._recheck_at())

    def _reap(self, pending: dict[Future[Any], tuple[int, int]], results: list[Any]) -> None:
        """Take the results of the sends that finished (raising the first error) and
        report the bytes acknowledged."""
        for future in [f for f in pending if f.done()]:
            index, length = pending.pop(future)
            results[index] = future.result()  # raises the send's error
            self.done_bytes += length
            if self.job.progress is not None:
                self.job.progress(self.done_bytes)

    def _check_source_end(self) -> None:
        extra = self.job.source.read(1)
        if extra:
            raise UploadError(
                f"source of {self.job.name!r} has more than the announced {self.job.size} "
                "bytes; nothing was stored"
            )


def _first_failure(sends: dict[Future[Any], tuple[int, int]]) -> BaseException | None:
    """The error of the first send, in chunk order, that ran and failed."""
    for future, _ in sorted(sends.items(), key=lambda item: item[1][0]):
        if future.done() and not future.cancelled() and future.exception() is not None:
            return future.exception()
    return None


class _EndOfSource(Exception):
    """Marker the reader thread queues after the last chunk (never raised)."""


_END_OF_SOURCE = _EndOfSource()


def _completion_body(
    job: UploadJob, file_key: PlainFileKey | None
) -> tuple[dict[str, Any], SentFileKey | None]:
    """The completion's body, and the file key it sends (encrypted rooms)."""
    body: dict[str, Any] = {
        "resolutionStrategy": job.resolution,
        "keepShareLinks": False,
        "fileName": job.name,
    }
    if file_key is None:
        return body, None
    assert job.key_pair is not None
    body["fileKey"] = encrypt_file_key(file_key, job.key_pair.public_key_container).to_json()
    return body, SentFileKey(body["fileKey"], file_key)


def _plan(size: int, chunk: int) -> list[tuple[int, int]]:
    return [(offset, min(chunk, size - offset)) for offset in range(0, size, chunk)]


class _ChannelUpload:
    """What both upload modes hold: the API, the options, the job and the opened channel."""

    def __init__(
        self, api: AuthorizedApi, options: UploadOptions, job: UploadJob, channel: dict[str, Any]
    ) -> None:
        self.api = api
        self.options = options
        self.job = job


class _ClassicUpload(_ChannelUpload):
    def __init__(
        self, api: AuthorizedApi, options: UploadOptions, job: UploadJob, channel: dict[str, Any]
    ) -> None:
        super().__init__(api, options, job, channel)
        self.url = channel["uploadUrl"]

    def run(self) -> UploadedFile:
        chunk = max(1, self.job.chunk_size)
        pipeline = _Pipeline(
            self.job,
            min(chunk, max(self.job.size, 1)),
            1,
            self.options.read_ahead,
            hash_sent=self.options.verify_hash,
        )
        pipeline.run(_plan(self.job.size, chunk), self._send)
        body, file_key = _completion_body(self.job, pipeline.file_key())
        try:
            answer = self.api.transport.request_json(
                "PUT", self.url, json_body=body, kind=RetryKind.SEND_ONCE
            )
        except (DracoonApiError, DracoonConnectionError) as exc:
            if not may_have_acted(exc):
                raise
            raise UploadInterruptedError(
                f"completing the upload of {self.job.name!r} into room {self.job.parent.id}: "
                f"{exc}; DRACOON may have created the file, so the completion is not sent "
                "again: look for the file, else upload it again",
                completion=True,
            ) from None
        if not isinstance(answer, dict) or "id" not in answer:
            raise UploadError(f"completing the upload of {self.job.name!r}: no node in answer")
        return UploadedFile(Node.from_json(answer), pipeline.sent_hash(), file_key)

    def _send(self, index: int, offset: int, view: memoryview) -> None:
        """POST one chunk, once (see the module docstring: DRACOON appends what it gets)."""
        end = offset + len(view) - 1
        headers = {"Content-Range": f"bytes {offset}-{end}/{self.job.size}"}
        body: Any = view
        if self.options.classic_multipart:
            body = _MultipartBody(view)
            headers["Content-Type"] = body.content_type
            headers["Content-Length"] = str(body.length)
        else:
            headers["Content-Type"] = "application/octet-stream"
        try:
            self.api.transport.request(
                "POST", self.url, body=body, headers=headers, kind=RetryKind.SEND_ONCE
            )
        except (DracoonApiError, DracoonConnectionError) as exc:
            if not may_have_acted(exc):
                raise
            raise UploadInterruptedError(
                f"chunk {index + 1} (bytes {offset}-{end}) of {self.job.name!r} into room "
                f"{self.job.parent.id}: {exc}; DRACOON may have stored it and appends every "
                "chunk it receives, so it is not sent again: the upload channel is cancelled "
                "and the file must be uploaded again from its first byte"
            ) from None


class _MultipartBody:
    """``multipart/form-data`` with one part ``file`` around a chunk, without copying it.

    Iterable again for every retry (urllib3 calls ``iter()`` per attempt).
    """

    def __init__(self, view: memoryview) -> None:
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="file"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._view = view
        self.length = len(self._head) + len(view) + len(self._tail)

    def __iter__(self) -> Iterator[Any]:
        return iter((self._head, self._view, self._tail))


class _S3Upload(_ChannelUpload):
    def __init__(
        self, api: AuthorizedApi, options: UploadOptions, job: UploadJob, channel: dict[str, Any]
    ) -> None:
        super().__init__(api, options, job, channel)
        self.upload_id = channel["uploadId"]
        self.part_size = max(job.chunk_size, S3_MIN_PART_SIZE)
        if job.size > self.part_size * S3_MAX_PARTS:  # keep within S3's 10,000-part limit
            self.part_size = -(-job.size // S3_MAX_PARTS)
        self.parts = _plan(job.size, self.part_size) or [(0, 0)]
        self._urls: dict[int, str] = {}
        self._url_lock = threading.Lock()

    def run(self) -> UploadedFile:
        senders = max(1, min(self.options.s3_parallel_parts, len(self.parts)))
        chunk_len = max(1, min(self.part_size, self.job.size))
        pipeline = _Pipeline(
            self.job,
            chunk_len,
            senders,
            self.options.read_ahead,
            hash_sent=self.options.verify_hash,
        )
        etags = pipeline.run(self.parts, self._send_part)
        body, file_key = _completion_body(self.job, pipeline.file_key())
        body["parts"] = [{"partNumber": i + 1, "partEtag": tag} for i, tag in enumerate(etags)]
        self._complete(body)
        return UploadedFile(self._wait_until_done(), pipeline.sent_hash(), file_key)

    def _complete(self, body: dict[str, Any]) -> None:
        """``PUT .../s3``, confirmed rather than repeated when its answer is lost.

        DRACOON starts assembling the file as soon as it accepts the request; a second PUT
        then meets a closed channel (404). So after a lost answer the upload's status is
        asked: accepted (``finishing``, ``done``, ``error``) -> wait for it as usual; still
        ``transfer`` -> probably not accepted, so it is sent once more. Some servers still
        say ``transfer`` for a while after accepting it; then the second PUT meets the
        closed channel (400 -20503 per DRACOON's API description, 404 on older servers),
        which proves the first was taken: the status polling below settles how it ended (a
        cancelled or expired channel answers 404 there).
        """
        path = f"/v4/nodes/files/uploads/{self.upload_id}/s3"
        for attempt in (1, 2):
            try:
                self.api.request("PUT", path, json_body=body, kind=RetryKind.SEND_ONCE)
                return
            except (DracoonApiError, DracoonConnectionError) as exc:
                if attempt == 2 and _channel_closed(exc):
                    log.info("completing %r again met a closed channel: the first completion "
                             "was accepted", self.job.name)  # fmt: skip
                    return
                if not may_have_acted(exc):
                    raise
                status = self._status_or_none()
                if status in ("finishing", "done", "error"):
                    log.info(
                        "the answer to completing %r was lost (%s), but DRACOON accepted it (%s)",
                        self.job.name,
                        exc,
                        status,
                    )
                    return
                if status == "transfer" and attempt == 1:
                    continue
                raise UploadInterruptedError(
                    f"completing the S3 upload of {self.job.name!r} into room "
                    f"{self.job.parent.id}: {exc}; its status is {status or 'unknown'}, so "
                    "whether DRACOON creates the file is not known: look for the file, else "
                    "upload it again",
                    completion=True,
                ) from None

    def _status_or_none(self) -> str | None:
        try:
            answer = self.api.call("GET", f"/v4/nodes/files/uploads/{self.upload_id}") or {}
        except DracoonError as exc:
            log.info("status of the S3 upload of %r unknown: %s", self.job.name, exc)
            return None
        status = answer.get("status") if isinstance(answer, dict) else None
        return status if isinstance(status, str) else None

    def _send_part(self, index: int, _offset: int, view: memoryview) -> str:
        number = index + 1
        for attempt in (1, 2):
            url = self._url(number, fresh=attempt > 1)
            try:
                response = self.api.transport.request(
                    "PUT",
                    url,
                    body=view,
                    headers={"Content-Type": "application/octet-stream"},
                    kind=RetryKind.REPEATABLE,
                    label="<presigned S3 part URL>",
                )
            except DracoonApiError as exc:
                if exc.status == 403 and attempt == 1:  # the presigned URL may have expired
                    continue
                raise exc.with_context(f"sending S3 part {number} of {self.job.name!r}") from None
            etag = (response.headers.get("ETag") or "").strip().strip('"')
            if not etag:
                raise UploadError(f"S3 part {number} of {self.job.name!r}: answer has no ETag")
            return etag
        raise AssertionError("unreachable")

    def _url(self, number: int, *, fresh: bool = False) -> str:
        with self._url_lock:
            if fresh:
                self._urls.pop(number, None)
            if number not in self._urls:
                self._fetch_urls(number, fresh)
            return self._urls.pop(number)

    def _fetch_urls(self, first: int, single: bool) -> None:
        """Presign ``first`` and the following parts of the same size (one request per size)."""
        size = self.parts[first - 1][1]
        last = first
        while (
            not single
            and last < len(self.parts)
            and last - first + 1 < S3_URL_BATCH
            and self.parts[last][1] == size
        ):
            last += 1
        answer = (
            self.api.call(
                "POST",
                f"/v4/nodes/files/uploads/{self.upload_id}/s3_urls",
                json_body={"size": size, "firstPartNumber": first, "lastPartNumber": last},
                kind=RetryKind.REPEATABLE,
            )
            or {}
        )
        for entry in answer.get("urls") or []:
            self._urls[int(entry["partNumber"])] = entry["url"]
        if first not in self._urls:
            raise UploadError(
                f"DRACOON returned no presigned URL for part {first} of {self.job.name!r}"
            )

    def _wait_until_done(self) -> Node:
        """Poll the S3 completion until DRACOON reports a final status.

        ``transfer`` and ``finishing`` mean "not yet" (servers report either while they
        assemble the parts); ``done`` and ``error`` end the wait at once. The wait between
        polls starts at ``s3_poll_initial`` and doubles up to ``s3_poll_max``; the whole wait
        is bounded by ``s3_completion_timeout``, with one last poll at the deadline so a
        completion that lands just in time is not thrown away. A set cancel event ends the
        pause between polls at once (``UploadCancelledError``). Any other status is not in
        DRACOON's API: it fails the upload at once instead of being waited out.
        """
        deadline = time.monotonic() + self.options.s3_completion_timeout
        delay = self.options.s3_poll_initial
        while True:
            _check_cancel(self.job)
            answer = self.api.call("GET", f"/v4/nodes/files/uploads/{self.upload_id}") or {}
            status = answer.get("status")
            if status == "done":
                node = answer.get("node")
                if not isinstance(node, dict) or "id" not in node:
                    raise UploadError(f"S3 upload of {self.job.name!r} done, but without a node")
                return Node.from_json(node)
            if status == "error":
                details = answer.get("errorDetails") or {}
                raise DracoonApiError(
                    "GET",
                    "/v4/nodes/files/uploads/{id}",
                    int(details.get("code") or 500),
                    error_code=details.get("errorCode"),
                    server_message=details.get("message") or "S3 upload finished with an error",
                    context=f"finishing the S3 upload of {self.job.name!r}",
                )
            if status not in S3_PENDING_STATUSES:
                raise UploadError(
                    f"S3 upload of {self.job.name!r}: DRACOON reported the unknown status "
                    f"{str(status)[:40]!r} (expected one of transfer, finishing, done, error)"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UploadError(
                    f"S3 upload of {self.job.name!r} still {status!r} after "
                    f"{self.options.s3_completion_timeout:.0f}s "
                    "(upload option s3_completion_timeout); giving up"
                )
            wait_for_cancel(self.job.cancel, min(delay, remaining))  # a cancel ends it
            delay = min(delay * 2, self.options.s3_poll_max)
