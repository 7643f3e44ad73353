"""Executing a job's plan: the rooms, and the uploads into them.

This is the part of a job that moves bytes (``jobs.plan`` decided what to move,
``jobs.settle`` decides what the files prove). It resolves the plan's target rooms, reads
each S3 object and uploads it into every room that needs it, and hands back, per (key,
room), an ``UploadResult`` -- the file and what the settlement needs to know about it -- or
None when the pair was settled otherwise (a failure recorded, a concurrent run's copy).

Read once: a key that must be uploaded into several rooms is read from S3 once
(``jobs.tee.SharedSource``) and uploaded into all of them at the same time, each upload
with its own file key in its own thread; a failing target does not disturb the others, and
its failure keeps the S3 object like any other. The job's thread waits for them on one
``waits.Signal`` (woken by their progress and their completion, not by a timer) and
reports their progress. A custom ``SourceOpener`` (one stream per (key, target)) turns this
off.

Interrupted uploads: a classic chunk, a completion or a channel creation whose answer was
lost may have been carried out by DRACOON, so the client never sends it again
(``UploadInterruptedError``, see dracoon/client/upload.py). Here such an upload -- like any
upload that failed on a 5xx or a connection error -- is first looked for (a lost completion
answer may still have produced the file), and otherwise started again from byte 0 on a new
channel with a fresh read of the S3 object, up to ``UPLOAD_RESTARTS`` times per (key,
target); after that the target fails as retryable and the S3 object stays. A room whose
(cached) id answers 404 is resolved by its path again, once, and the upload goes there.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, BinaryIO

from recording_storage.aws.s3 import ObjectInfo, RangedObjectReader, S3Error, S3ObjectMissingError
from recording_storage.deadlines import carry_context
from recording_storage.dracoon.client import (
    DracoonApiError,
    DracoonConnectionError,
    DracoonError,
    RoomNotFoundError,
    UploadCancelledError,
    UploadCorruptedError,
    UploadInterruptedError,
)
from recording_storage.jobs.errors import JobError, is_retryable
from recording_storage.jobs.plan import PlannedSource, TransferPlan
from recording_storage.jobs.rooms import Room, UploadResult, resolve_room, room_gone
from recording_storage.jobs.settle import RoomMissingError, Settlement
from recording_storage.jobs.tee import SharedSource
from recording_storage.logcodes import LogCode, log_event
from recording_storage.waits import Signal, wait_all

log = logging.getLogger(__name__)

__all__ = ["Execution", "JobProgress", "SourceOpener", "UploadResult"]

SourceOpener = Callable[[ObjectInfo], BinaryIO]
UPLOAD_RESTARTS = 1  # new channel + fresh S3 read after an interrupted upload, per (key, room)
_TRANSIENT_STATUSES = (500, 502, 503, 504)


class JobProgress:
    """Bytes done of the job's total, reported from the job's thread only (the callback
    -- heartbeat, progress display -- need not be thread-safe)."""

    def __init__(self, callback: Callable[[int, int], None] | None) -> None:
        self.callback = callback
        self.done = 0  # bytes of (key, room) pairs finished
        self.total = 0

    def report(self, done: int) -> None:
        if self.callback is not None:
            try:
                self.callback(done, self.total)
            except Exception:  # a broken progress callback must not break the transfer
                log.debug("progress callback failed", exc_info=True)

    def advance(self, size: int) -> None:
        self.done += size
        self.report(self.done)


class Execution:
    """The rooms and uploads of one job (see the module docstring). Not reused across jobs."""

    def __init__(
        self,
        plan: TransferPlan,
        settle: Settlement,
        *,
        client: Any,
        s3: Any,
        cancel: threading.Event,
        progress: JobProgress,
        open_source: SourceOpener | None = None,
        read_once: bool = True,
    ) -> None:
        self.plan = plan
        self.settle = settle
        self.client = client
        self.s3 = s3
        self.cancel = cancel
        self.progress = progress
        self.open_source = open_source or self._open_ranged
        # One S3 read for all targets of a key - only with our own S3 reader: a given
        # ``open_source`` keeps its contract of one stream per (key, target).
        self.read_once = read_once and open_source is None

    # -- rooms ----------------------------------------------------------------------------

    def resolve_rooms(self, *, create: bool, quiet: bool = False) -> list[Room]:
        """The plan's target rooms (created when ``create``). A target that fails is
        recorded and left out; ``quiet``: raise instead (RoomMissingError for a room that
        does not exist, JobError otherwise) -- looking for an earlier delivery's copies."""
        rooms: list[Room] = []
        for target in self.plan.targets:
            try:
                node, existing = resolve_room(self.client, self.plan, target, create=create)
            except Exception as exc:  # one bad target must not stop the others
                if quiet:
                    if isinstance(exc, RoomNotFoundError):
                        raise RoomMissingError(str(exc)) from None
                    raise JobError(str(exc), retryable=is_retryable(exc)) from None
                if isinstance(exc, DracoonError | JobError):
                    self.settle.fail(None, target, exc)
                    continue
                raise
            if create and any(room.node.id == node.id for room in rooms):
                continue  # DRACOON resolved two target paths to one room: upload once
            rooms.append(Room(target, node, existing))
        return rooms

    def _refresh_room(self, room: Room, gone: DracoonApiError) -> bool:
        """Resolve ``room``'s path again after its (cached) id answered 404: the room is
        recreated by path, never guessed; False (failure recorded) when that fails."""
        stale = room.node.id
        try:
            self.client.forget_rooms()
            room.node, room.existing = resolve_room(
                self.client, self.plan, room.target, create=True
            )
        except (DracoonError, JobError) as exc:
            self.settle.fail(None, room.target, exc)
            return False
        self._log(
            LogCode.TRANSFERER_STATUS,
            f"job {self.plan.job_id}: room {room.display_path!r} (id {stale}) is gone "
            f"({gone.status}); resolved its path again as room {room.node.id} and uploading there",
            room=room.display_path,
        )
        return True

    # -- uploads --------------------------------------------------------------------------

    def upload_read_once(
        self, source: PlannedSource, rooms: list[Room]
    ) -> dict[Room, Future[UploadResult]]:
        """Upload ``source`` into every room at once from one S3 read (jobs.tee), when the
        read-once mode is on and there is more than one room; otherwise nothing (the uploads
        run one after another in ``upload``).

        Each upload runs in its own thread with its own file key; a failing one closes its
        branch and the others go on. Progress is reported from this (the job's) thread.
        """
        if not self.read_once or len(rooms) < 2:
            return {}
        shared = SharedSource(
            self.s3, source.info, self.plan.chunk_size, len(rooms), deadline=self.plan.s3_deadline
        )
        done = [0] * len(rooms)
        changed = Signal()

        def upload(index: int, room: Room) -> UploadResult:
            def progress(count: int) -> None:
                done[index] = count
                changed.notify()

            with shared.branch(index) as branch:
                return self._upload(source, room, branch, progress)

        before = self.progress.done
        with ThreadPoolExecutor(len(rooms), thread_name_prefix="upload-target") as pool:
            futures = {
                room: pool.submit(carry_context(upload), index, room)
                for index, room in enumerate(rooms)
            }
            wait_all(futures.values(), changed, lambda: self.progress.report(before + sum(done)))
        return futures

    def upload(
        self, source: PlannedSource, room: Room, started: Future[UploadResult] | None = None
    ) -> UploadResult | None:
        """Put ``source`` into ``room``: the result of the read-once upload ``started`` for
        it, or a new upload; restarted after an interruption (module docstring). None when
        this (key, room) is settled otherwise (failed and recorded, or completed by a
        concurrent run). Raises JobError when the job is cancelled."""
        done_before = self.progress.done
        try:
            return self._upload_with_restarts(source, room, started, done_before)
        finally:
            self.progress.done = done_before + source.size

    def _upload_with_restarts(
        self,
        source: PlannedSource,
        room: Room,
        started: Future[UploadResult] | None,
        done_before: int,
    ) -> UploadResult | None:
        job_id = self.plan.job_id
        attempt, room_refreshed, interrupted = 0, False, False
        while attempt <= UPLOAD_RESTARTS:
            try:
                if started is not None and attempt == 0:
                    result = started.result()  # raises what the upload raised
                else:
                    with self.open_source(source.info) as stream:
                        result = self._upload(
                            source, room, stream, lambda n: self.progress.report(done_before + n)
                        )
                return replace(result, interrupted=interrupted)
            except (DracoonError, S3Error, OSError) as exc:
                interrupted = True
                if isinstance(exc, UploadCancelledError) or self.cancel.is_set():
                    self.settle.fail(source.key, room.target, exc)
                    raise JobError(f"job {job_id} cancelled: {exc}", retryable=True) from None
                if isinstance(exc, S3ObjectMissingError):
                    self.settle.vanished(source, room, exc)
                    return None
                if room_gone(exc) and not room_refreshed:
                    # The room id was cached and the room is gone: resolve the path again
                    # (recreating the room) and upload there; not counted as a restart.
                    room_refreshed = True
                    if not self._refresh_room(room, exc):
                        return None
                    started = None
                    continue
                if not _restartable(exc):
                    self.settle.fail(source.key, room.target, exc)
                    return None
                try:  # a lost completion answer may still have produced the file
                    found = None if isinstance(exc, UploadCorruptedError) else (
                        self.settle.find_copy(source, room))  # fmt: skip
                except (DracoonError, S3Error) as lookup_error:
                    self.settle.fail(source.key, room.target, lookup_error)
                    return None
                if found is not None:
                    self._log(
                        LogCode.TRANSFERER_STATUS,
                        f"job {job_id}: upload of {source.info.location} into "
                        f"{room.display_path!r} was interrupted ({exc}), but the file "
                        f"is complete in the room (file {found.id})",
                        file=source.key,
                        room=room.display_path,
                    )
                    return UploadResult(room, found, uploaded=False, interrupted=True)
                if attempt == UPLOAD_RESTARTS:
                    self.settle.fail(source.key, room.target, exc)
                    return None
                self.progress.report(done_before)
                self._log(
                    LogCode.TRANSFERER_STATUS,
                    f"job {job_id}: upload of {source.info.location} into "
                    f"{room.display_path!r} was interrupted ({exc}); starting it again "
                    "on a new upload channel with a fresh read of the S3 object",
                    file=source.key,
                    room=room.display_path,
                )
            attempt += 1
        return None

    def _upload(
        self,
        source: PlannedSource,
        room: Room,
        stream: BinaryIO | io.RawIOBase,
        progress: Callable[[int], None],
    ) -> UploadResult:
        node = self.client.upload(
            room.id,
            source.file_name,
            stream,
            source.size,
            expire_at=room.target.expire_at,
            notes=source.notes,
            resolution="autorename",
            chunk_size=self.plan.chunk_size,
            progress=progress,
            cancel=self.cancel,
        )
        return UploadResult(room, node, uploaded=True)

    # -- helpers --------------------------------------------------------------------------

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise JobError(f"job {self.plan.job_id} cancelled before it finished", retryable=True)

    def _open_ranged(self, info: ObjectInfo) -> BinaryIO:
        # Streaming straight into the upload's buffers: the upload pipeline reads ahead.
        reader = RangedObjectReader(
            self.s3, info, self.plan.chunk_size, deadline=self.plan.s3_deadline
        )
        return reader  # type: ignore[return-value]

    def _log(self, code: LogCode, message: str, **fields: Any) -> None:
        log_event(log, code, message, job=self.plan.job_id, instance=self.plan.instance, **fields)


def _restartable(exc: BaseException) -> bool:
    """Worth a new upload channel in this run: DRACOON may have acted on a call that must
    not be repeated, or failed transiently (5xx, no answer), or stored other bytes than were
    sent (and that file is gone again) -- not a refusal (4xx)."""
    if isinstance(exc, UploadCorruptedError):
        return bool(exc.deleted)  # a broken file still in the room must not meet a new copy
    if isinstance(exc, UploadInterruptedError | DracoonConnectionError):
        return True
    return isinstance(exc, DracoonApiError) and exc.status in _TRANSIENT_STATUSES
