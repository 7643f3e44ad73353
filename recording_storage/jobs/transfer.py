"""One job's work: S3 objects -> (encrypted) files in every target room, then S3 clean-up.

Order of events, and why:

1. HeadObject every key (exists? size? ETag) before touching DRACOON.
2. Resolve (create) each target room under the instance's parent room.
3. List the files already in each room and recognise our own earlier uploads by the marker
   in their notes (see below); those are verified and, when correct, not uploaded again.
   Skipped on a first SQS delivery of objects written in the last 15 minutes with
   ``s3.removeAfterTransferring``: the check after the upload finds any copy
   (docs/reliability.md, "Duplicate protection at the floor").
4. For every key and target: stream the object with ranged GETs into ``client.upload``
   (encrypted when the room is), with the target's expiration and the marker as notes; verify
   the new file; then hand the file key to every room reader.
5. Only when every key reached every target, and ``s3.removeAfterTransferring`` is true,
   delete the S3 objects. Any failure keeps them, and the job fails (retried or dead-lettered).

Duplicate protection ("marker"): every uploaded file gets the notes
``recording-storage:v1 source=<id> etag=<etag> size=<bytes>`` where ``id`` is the first 32 hex
digits of SHA-256 over ``bucket/key``. A redelivered job skips a (key, room) whose room holds
a file with the same source, ETag and size; if the S3 object is already gone (deleted by an
earlier run that crashed before the message was deleted), a file with the same source in
every target room proves the job done (if it passes verification, below). A DRACOON upload
only becomes a file when it is completed, so a crash mid-upload leaves nothing to match and
the file is uploaded again.
Two runs of the same job at the same time converge to one file per target (``jobs.dedup``);
the gone path deletes byte-identical duplicates a renamed run could not remove
(``_drop_identical_copies``).

Verification: a file counts as done -- reused from an earlier delivery or freshly completed
-- only when DRACOON reports the recording's exact size and the room's encryption
(``jobs.dedup.copy_problem``) and its content is the recording's: a fresh upload by the MD5
of what was sent against DRACOON's ``hash`` (the client; ``dracoon.verifyHash``), a copy
this run did not upload by the S3 object's MD5 against that ``hash`` (plain rooms) or by
downloading and decrypting it (``jobs.verify``). A file with the marker that fails the check
is deleted and the recording uploaded again, so a job never succeeds (and never deletes the
S3 object) over a bad copy. Only when the S3 object is already gone is a bad copy left
alone: it is all that remains, and the job fails permanently for a human to look at. Such
copies have nothing to be compared with: in an encrypted room they are still read back and
decrypted (GCM tag and size, ``jobs.verify.orphan_problem``); in a plain room size,
encryption and the marker are all that is checked.

Interrupted uploads: a classic chunk, a completion or a channel creation whose answer was
lost may have been carried out by DRACOON, so the client never sends it again
(``UploadInterruptedError``, see dracoon/client/upload.py). Here such an upload -- like any
upload that failed on a 5xx or a connection error -- is first looked for (a lost completion
answer may still have produced the file), and otherwise started again from byte 0 on a new
channel with a fresh read of the S3 object, up to ``UPLOAD_RESTARTS`` times per (key,
target); after that the target fails as retryable and the S3 object stays.

Read once: a key that must be uploaded into several rooms is read from S3 once
(``jobs.tee.SharedSource``) and uploaded into all of them at the same time, each upload
with its own file key in its own thread; a failing target does not disturb the others, and
its failure keeps the S3 object like any other. A custom ``SourceOpener`` (one stream per
(key, target)) turns this off.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from recording_storage.aws.s3 import (
    ObjectInfo,
    RangedObjectReader,
    S3Error,
    S3ObjectChangedError,
    S3ObjectMissingError,
    delete_object,
    head_object,
)
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
from recording_storage.dracoon.client.integrity import reported_hash
from recording_storage.jobs.dedup import (
    complete_copies,
    copy_problem,
    holds_requested_name,
    keep_oldest_copy,
    recently_written,
    remove_broken_copies,
)

# is_retryable stays importable from here (tests and older callers use jobs.transfer).
from recording_storage.jobs.errors import JobError, dependency_of, is_retryable
from recording_storage.jobs.message import file_name_of
from recording_storage.jobs.targets import ResolvedTarget
from recording_storage.jobs.tee import SharedSource
from recording_storage.jobs.templates import sanitize_name
from recording_storage.jobs.verify import CopyVerifier, orphan_problem
from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)

MARKER_PREFIX = "recording-storage:v1"
_MARKER = re.compile(
    r"recording-storage:v1 source=(?P<source>[0-9a-f]{32}) etag=(?P<etag>\S*) size=(?P<size>\d+)"
)

SourceOpener = Callable[[ObjectInfo], BinaryIO]
PROGRESS_POLL_SECONDS = 0.5
MAX_FILTERED_LISTINGS = 4  # more keys in one job: one full listing per room is cheaper
UPLOAD_RESTARTS = 1  # new channel + fresh S3 read after an interrupted upload, per (key, room)
_TRANSIENT_STATUSES = (500, 502, 503, 504)
Progress = Callable[[int, int], None]


def source_id(bucket: str, key: str) -> str:
    return hashlib.sha256(f"{bucket}/{key}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def marker_for(info: ObjectInfo) -> str:
    """The notes that identify an upload of exactly this S3 object version."""
    etag = re.sub(r"\s", "", info.etag)[:100]
    return f"{MARKER_PREFIX} source={source_id(info.bucket, info.key)} etag={etag} size={info.size}"


@dataclass(frozen=True)
class Marker:
    source: str
    etag: str
    size: int


def parse_marker(notes: str | None) -> Marker | None:
    match = _MARKER.search(notes or "")
    if not match:
        return None
    return Marker(match["source"], match["etag"], int(match["size"]))


@dataclass(frozen=True)
class TransferredFile:
    key: str
    target: str  # room path below the parent room
    room_id: int
    file_id: int
    name: str
    size: int
    reused: bool  # True: found from an earlier delivery, not uploaded again


@dataclass(frozen=True)
class TargetFailure:
    key: str | None
    target: str
    error: str
    retryable: bool
    dependency: str = "dracoon"  # what failed: s3, credentials or dracoon (circuit breakers)


@dataclass
class TransferOutcome:
    files: list[TransferredFile] = field(default_factory=list)
    failures: list[TargetFailure] = field(default_factory=list)
    bytes_transferred: int = 0
    s3_deleted: bool = False


@dataclass
class _Room:
    target: ResolvedTarget
    node: Any  # dracoon Node
    existing: dict[str, list[tuple[Marker, Any]]]  # source id -> [(marker, file node)]


class Transfer:
    """Runs one job for one instance (all keys x all targets). Not reused across jobs."""

    def __init__(
        self,
        *,
        job_id: str,
        instance: str,
        parent_room_id: int,
        bucket: str,
        keys: tuple[str, ...],
        targets: list[ResolvedTarget],
        client: Any,
        s3: Any,
        chunk_size: int,
        remove_after: bool,
        now: datetime,
        cancel: threading.Event | None = None,
        progress: Progress | None = None,
        report_files: bool = True,
        open_source: SourceOpener | None = None,
        read_once: bool = True,
        s3_deadline: float | None = None,
        first_delivery: bool = False,
    ):
        self.job_id = job_id
        self.instance = instance
        self.parent_room_id = parent_room_id
        self.bucket = bucket
        self.keys = keys
        self.targets = targets
        self.client = client
        self.s3 = s3
        self.chunk_size = chunk_size
        self.remove_after = remove_after
        self.now = now
        self.cancel = cancel or threading.Event()
        self.progress = progress
        self.report_files = report_files
        self.open_source = open_source or self._open_ranged
        # One S3 read for all targets of a key - only with our own S3 reader: a given
        # ``open_source`` keeps its contract of one stream per (key, target).
        self.read_once = read_once and open_source is None
        # s3.rangeDeadlineSeconds: the total wait for one ranged GET, HeadObject or DeleteObject
        self.s3_deadline = s3_deadline
        self.outcome = TransferOutcome()
        # The first SQS delivery of a message whose objects go once transferred skips the
        # listing of earlier uploads: the check after the upload finds any copy (dedup.py).
        self.list_before_upload = not (first_delivery and remove_after)
        self._interrupted: set[tuple[str, str]] = set()  # (key, room) uploads that broke off
        self._verifiers: dict[str, CopyVerifier] = {}  # per key: content checks of copies
        self._orphans: dict[int, str | None] = {}  # file id -> problem, S3 object gone
        self._done_before = 0
        self._total = 0

    # -- the job --------------------------------------------------------------------------

    def run(self) -> TransferOutcome:
        infos, missing = self._head_all()
        if missing or not all(recently_written(i.last_modified, self.now) for i in infos):
            self.list_before_upload = True  # an earlier run exists, or its copy may be old
        if missing:
            self._check_already_done(missing)  # raises unless earlier runs finished them
        rooms = self._resolve_rooms(create=True)
        self._total = sum(info.size for info in infos) * len(rooms)
        for info in infos:
            self._check_cancel()
            usable = [room for room in rooms if self._drop_broken_copies(info, room)]
            todo = [room for room in usable if self._needs_upload(info, room)]
            uploads = {}
            if self.read_once and len(todo) > 1:
                uploads = dict(zip(map(id, todo), self._upload_read_once(info, todo), strict=True))
            for room in usable:
                if not uploads:
                    self._check_cancel()
                self._transfer_one(info, room, uploads.get(id(room)))
        for room in rooms:
            for key in missing:
                self._record_existing_for_missing(key, room)
        if self.outcome.failures:
            raise self._job_error()
        if self.remove_after:
            self._delete_sources(infos)
        return self.outcome

    # -- steps ----------------------------------------------------------------------------

    def _head_all(self) -> tuple[list[ObjectInfo], list[str]]:
        infos, missing = [], []
        for key in self.keys:
            try:
                infos.append(head_object(self.s3, self.bucket, key, deadline=self.s3_deadline))
            except S3ObjectMissingError:
                missing.append(key)
            except S3Error as exc:
                self._log(LogCode.STORAGE_ERROR, str(exc), file=key)
                raise JobError(str(exc), retryable=exc.retryable) from None
        return infos, missing

    def _check_already_done(self, missing: list[str]) -> None:
        """A missing source is fine only if every target room has a correct file for it:
        right size, encryption and marker, and in an encrypted room read back and decrypted
        (GCM tag). A damaged copy is kept -- it is all that is left -- and fails the job
        permanently.

        "Could not look" (a 5xx, a timeout, a 429 after the retries, a read-back that broke
        off) is never "not there": it fails the job as retryable. Only a room that does not
        exist, or a room without a correct copy, makes the missing source a permanent error.
        """
        where = ", ".join(f"s3://{self.bucket}/{key}" for key in missing)
        try:
            rooms = self._resolve_rooms(create=False, quiet=True)
        except _RoomMissingError:
            rooms = []
        except JobError as exc:
            message = (
                f"job {self.job_id}: {where} does not exist; checking whether an earlier "
                f"delivery transferred it failed: {exc}"
                + ("; the job will be retried" if exc.retryable else "")
            )
            self._log(LogCode.AMAZON_TO_DRACOON_ERROR, message, file=missing[0])
            raise JobError(message, retryable=exc.retryable) from None
        try:
            copies = [self._copy_of_missing(key, room) for key in missing for room in rooms]
        except DracoonError as exc:  # the read-back of a copy failed: could not check
            message = (
                f"job {self.job_id}: instance {self.instance}: {where} does not exist; "
                f"reading back the copy an earlier delivery left failed: {exc}; the job will "
                "be retried"
            )
            self._log(LogCode.AMAZON_TO_DRACOON_ERROR, message, file=missing[0])
            raise JobError(message, retryable=True) from None
        broken = [problem for found, problem in copies if found and problem]
        complete = len(rooms) == len(self.targets) and all(
            found and not problem for found, problem in copies
        )
        if broken:
            message = (
                f"job {self.job_id}: instance {self.instance}: {where} is gone from S3 (an "
                "earlier delivery transferred and deleted it) and "
                + "; ".join(broken)
                + ": it is the only copy left of the recording, so it was kept and the job is "
                "not done; restore the recording from a backup or S3 versioning if there is "
                "one and send the message again, otherwise the recording is lost -- delete "
                "the damaged file once it has been looked at"
            )
            self._log(LogCode.AMAZON_TO_DRACOON_ERROR, message, file=missing[0])
            raise JobError(message, retryable=False)
        if not complete:
            where = ", ".join(f"s3://{self.bucket}/{key}" for key in missing)
            message = (
                f"job {self.job_id}: {where} does not exist and was not transferred by an "
                "earlier delivery; check the producer of this message"
            )
            self._log(LogCode.STORAGE_ERROR, message, file=missing[0])
            raise JobError(message, retryable=False)
        log_event(
            log,
            LogCode.TRANSFERER_STATUS,
            f"job {self.job_id}: {len(missing)} source(s) already transferred and removed by "
            "an earlier delivery",
            job=self.job_id,
            instance=self.instance,
        )

    def _copy_of_missing(self, key: str, room: _Room) -> tuple[bool, str | None]:
        """(does ``room`` hold a file with the vanished ``key``'s marker, why none of them is
        a correct copy -- None when one is).

        Size, encryption and marker first; then, in an encrypted room, the copy is read back
        (``jobs.verify.orphan_problem``), oldest first, until one passes. A read-back that
        could not be made raises its DracoonError."""
        copies = sorted(
            room.existing.get(source_id(self.bucket, key), []), key=lambda c: int(c[1].id)
        )
        if not copies:
            return False, None
        encrypted = room.node.is_encrypted
        problems = []
        for marker, node in copies:
            problem = copy_problem(node, size=marker.size, encrypted=encrypted)
            if problem is None:
                problem = self._orphan_problem(node, encrypted=encrypted)
            if problem is None:
                return True, None
            problems.append((node, problem))
        node, problem = problems[0]
        return True, (
            f"the copy of s3://{self.bucket}/{key} in room {room.target.display_path!r} (file "
            f"{node.id}) is not correct, it is damaged: {problem}"
        )

    def _orphan_problem(self, node: Any, *, encrypted: bool) -> str | None:
        """``orphan_problem`` at most once per file (the check and the recording share it)."""
        node_id = int(node.id)
        if node_id not in self._orphans:
            self._orphans[node_id] = orphan_problem(self.client, node, encrypted=encrypted)
        return self._orphans[node_id]

    def _resolve_rooms(self, *, create: bool, quiet: bool = False) -> list[_Room]:
        rooms = []
        for target in self.targets:
            try:
                node, existing = self._resolve_room(target, create=create)
            except Exception as exc:  # one bad target must not stop the others
                if quiet:
                    if isinstance(exc, RoomNotFoundError):
                        raise _RoomMissingError(str(exc)) from None
                    raise JobError(str(exc), retryable=is_retryable(exc)) from None
                if isinstance(exc, DracoonError | JobError):
                    self._fail(None, target, exc)
                    continue
                raise
            if create and any(room.node.id == node.id for room in rooms):
                continue  # DRACOON resolved two target paths to one room: upload once
            rooms.append(_Room(target, node, existing))
        return rooms

    def _resolve_room(self, target: ResolvedTarget, *, create: bool) -> tuple[Any, dict]:
        """The target's room and our earlier uploads in it. The room id may come from the
        client's room cache (per account and path, 300 s): a room gone since (404)
        makes it forget its rooms and resolve the path again, once."""
        for attempt in range(2):
            node = self.client.resolve_room_path(
                self.parent_room_id, list(target.room_path), create=create
            )
            if create and not self.list_before_upload:
                return node, {}
            try:
                return node, self._index_existing(node)
            except DracoonApiError as exc:
                if not room_gone(exc) or attempt:
                    raise
                self.client.forget_rooms()
        raise AssertionError("unreachable")

    def _index_existing(self, room: Any) -> dict[str, list[tuple[Marker, Any]]]:
        """Our earlier uploads of this job's keys in ``room``, by source id.

        Lists only files whose name contains the stem of a key's file name (autorename
        keeps the stem: ``talk (1).mp4``), so the cost does not grow with the room; a job
        with many keys lists the room once instead. A file renamed by a user is not found
        and is uploaded again.
        """
        index: dict[str, list[tuple[Marker, Any]]] = {}
        stems = sorted({name_stem(sanitize_name(file_name_of(key))) for key in self.keys})
        seen: set[Any] = set()
        for stem in stems if len(stems) <= MAX_FILTERED_LISTINGS else [None]:
            for node in self.client.list_children(room.id, node_type="file", name_contains=stem):
                marker = parse_marker(node.notes)
                if marker is not None and node.id not in seen:
                    seen.add(node.id)
                    index.setdefault(marker.source, []).append((marker, node))
        return index

    def _transfer_one(self, info: ObjectInfo, room: _Room, uploaded: Future | None = None) -> None:
        """Reuse, or upload, ``info`` into ``room``; ``uploaded``: an upload already run
        (read-once, see ``_upload_read_once``) whose node or exception to take first."""
        target = room.target.display_path
        wanted = parse_marker(marker_for(info))
        copies = [node for found, node in room.existing.get(wanted.source, []) if found == wanted]
        if copies:  # verified by _drop_broken_copies
            node = copies[0] if len(copies) == 1 else self._keep_one(info, room, copies[0])
            if node is None:
                return
            self._record(info, room, node, reused=True)
            self._give_keys(room, node, info.key)
            self._advance(info.size)
            return
        done_before = self._done_before
        node = self._upload_with_restarts(info, room, uploaded, done_before)
        self._done_before = done_before + info.size
        if node is None:
            return
        self._report(self._done_before)
        self.outcome.bytes_transferred += info.size
        if (info.key, target) in self._interrupted or not holds_requested_name(
            node, sanitize_name(file_name_of(info.key)), size=info.size,
            encrypted=room.node.is_encrypted,
        ):  # fmt: skip
            node = self._keep_one(info, room, node)
        if node is None:
            return
        room.existing.setdefault(wanted.source, []).append((wanted, node))
        self._record(info, room, node, reused=False)
        self._give_keys(room, node, info.key)
        if self.report_files:
            log_event(
                log,
                LogCode.STORAGE_STATUS,
                f"job {self.job_id}: uploaded s3://{info.bucket}/{info.key} ({info.size} bytes) "
                f"as {node.name!r} into {target!r}"
                + (f", expires {node.expire_at:%Y-%m-%d}" if node.expire_at else ""),
                job=self.job_id,
                instance=self.instance,
                file=info.key,
                room=target,
                file_id=node.id,
            )

    def _upload_with_restarts(
        self, info: ObjectInfo, room: _Room, uploaded: Future | None, done_before: int
    ) -> Any | None:
        """The uploaded file node, or None when this (key, room) is settled otherwise
        (failed and recorded, or completed by a concurrent run)."""
        attempt, room_refreshed = 0, False
        while attempt <= UPLOAD_RESTARTS:
            try:
                if uploaded is not None and attempt == 0:
                    return uploaded.result()  # raises what the upload raised
                with self.open_source(info) as source:
                    return self._upload(
                        info, room, source, lambda done: self._report(done_before + done)
                    )
            except (DracoonError, S3Error, OSError) as exc:
                self._interrupted.add((info.key, room.target.display_path))
                if isinstance(exc, UploadCancelledError) or self.cancel.is_set():
                    self._fail(info.key, room.target, exc)
                    raise JobError(f"job {self.job_id} cancelled: {exc}", retryable=True) from None
                if isinstance(exc, S3ObjectMissingError):
                    self._settle_vanished_source(info, room, exc)
                    return None
                if room_gone(exc) and not room_refreshed:
                    # The room id was cached and the room is gone: resolve the path again
                    # (recreating the room) and upload there; not counted as a restart.
                    room_refreshed = True
                    if not self._refresh_room(room, exc):
                        return None
                    uploaded = None
                    continue
                if not _restartable(exc):
                    self._fail(info.key, room.target, exc)
                    return None
                try:  # a lost completion answer may still have produced the file
                    found = None if isinstance(exc, UploadCorruptedError) else (
                        self._find_copy(info, room))  # fmt: skip
                except (DracoonError, S3Error) as lookup_error:
                    self._fail(info.key, room.target, lookup_error)
                    return None
                if found is not None:
                    self._log(
                        LogCode.TRANSFERER_STATUS,
                        f"job {self.job_id}: upload of {info.location} into "
                        f"{room.target.display_path!r} was interrupted ({exc}), but the file "
                        f"is complete in the room (file {found.id})",
                        file=info.key,
                        room=room.target.display_path,
                    )
                    return found
                if attempt == UPLOAD_RESTARTS:
                    self._fail(info.key, room.target, exc)
                    return None
                self._report(done_before)
                self._log(
                    LogCode.TRANSFERER_STATUS,
                    f"job {self.job_id}: upload of {info.location} into "
                    f"{room.target.display_path!r} was interrupted ({exc}); starting it again "
                    "on a new upload channel with a fresh read of the S3 object",
                    file=info.key,
                    room=room.target.display_path,
                )
            attempt += 1
        return None

    def _refresh_room(self, room: _Room, gone: DracoonApiError) -> bool:
        """Resolve ``room``'s path again after its (cached) id answered 404: the room is
        recreated by path, never guessed; False (failure recorded) when that fails."""
        stale = room.node.id
        try:
            self.client.forget_rooms()
            room.node, room.existing = self._resolve_room(room.target, create=True)
        except (DracoonError, JobError) as exc:
            self._fail(None, room.target, exc)
            return False
        self._log(
            LogCode.TRANSFERER_STATUS,
            f"job {self.job_id}: room {room.target.display_path!r} (id {stale}) is gone "
            f"({gone.status}); resolved its path again as room {room.node.id} and uploading there",
            room=room.target.display_path,
        )
        return True

    def _upload(
        self, info: ObjectInfo, room: _Room, source: BinaryIO, progress: Callable[[int], None]
    ) -> Any:
        expiration = room.target.expiration
        node = self.client.upload(
            room.node.id,
            sanitize_name(file_name_of(info.key)),
            source,
            info.size,
            expire_at=expiration.expire_at(self.now) if expiration else None,
            notes=marker_for(info),
            resolution="autorename",
            chunk_size=self.chunk_size,
            progress=progress,
            cancel=self.cancel,
        )
        self._verifier(info).trust(node)  # the client compared its hash with what was sent
        return node

    def _verifier(self, info: ObjectInfo) -> CopyVerifier:
        """The content checks of ``info``'s copies (one S3 read at most, jobs.verify)."""
        return self._verifiers.setdefault(
            info.key,
            CopyVerifier(
                self.client, self.s3, info, range_size=self.chunk_size, deadline=self.s3_deadline
            ),
        )

    def _needs_upload(self, info: ObjectInfo, room: _Room) -> bool:
        wanted = parse_marker(marker_for(info))
        return not any(found == wanted for found, _ in room.existing.get(wanted.source, []))

    def _drop_broken_copies(self, info: ObjectInfo, room: _Room) -> bool:
        """Delete earlier copies of ``info`` in ``room`` that fail verification (wrong size,
        wrong encryption, other content: ``jobs.verify``), so they are neither reused nor in
        the way of the new upload. False when that failed or a copy could not be checked
        (the failure is recorded; skip this key for the room)."""
        wanted = parse_marker(marker_for(info))
        entries = room.existing.get(wanted.source, [])
        broken = []
        try:
            for found, node in entries:
                if found != wanted:
                    continue
                encrypted = room.node.is_encrypted
                problem = copy_problem(node, size=info.size, encrypted=encrypted)
                if problem is None:
                    problem = self._verifier(info).problem(node, encrypted=encrypted)
                if problem is not None:
                    broken.append((node, problem))
        except (DracoonError, S3Error) as exc:
            self._fail(info.key, room.target, exc)
            self._advance(info.size)
            return False
        if not broken:
            return True
        try:
            remove_broken_copies(
                self.client,
                room.node.id,
                broken,
                job_id=self.job_id,
                instance=self.instance,
                file=info.key,
                room=room.target.display_path,
            )
        except DracoonError as exc:
            self._fail(info.key, room.target, exc)
            self._advance(info.size)
            return False
        gone = {node.id for node, _ in broken}
        room.existing[wanted.source] = [(m, n) for m, n in entries if n.id not in gone]
        return True

    def _upload_read_once(self, info: ObjectInfo, rooms: list[_Room]) -> list[Future]:
        """Upload ``info`` into every room at once from one S3 read (jobs.tee).

        Each upload runs in its own thread with its own file key; a failing one closes its
        branch and the others go on. Progress is reported from this (the job's) thread.
        """
        shared = SharedSource(self.s3, info, self.chunk_size, len(rooms), deadline=self.s3_deadline)
        done = [0] * len(rooms)

        def upload(index: int, room: _Room) -> Any:
            def progress(count: int) -> None:
                done[index] = count

            with shared.branch(index) as branch:
                return self._upload(info, room, branch, progress)

        with ThreadPoolExecutor(len(rooms), thread_name_prefix="upload-target") as pool:
            futures = [pool.submit(carry_context(upload), i, room) for i, room in enumerate(rooms)]
            while wait(futures, timeout=PROGRESS_POLL_SECONDS).not_done:
                self._report(self._done_before + sum(done))
        return futures

    def _find_copy(self, info: ObjectInfo, room: _Room) -> Any | None:
        """The oldest verified copy of ``info`` in ``room`` (jobs.dedup, jobs.verify), or None.
        A copy failing the content check is left for ``_keep_one`` to delete.

        DracoonError and S3Error propagate: a failed lookup is never taken for "no copy".
        """
        wanted = parse_marker(marker_for(info))
        copies = complete_copies(
            self.client,
            room.node.id,
            lambda other: parse_marker(other.notes) == wanted,
            size=info.size,
            encrypted=room.node.is_encrypted,
            name_contains=name_stem(sanitize_name(file_name_of(info.key))),
        )
        verifier = self._verifier(info)
        for node in sorted(copies, key=lambda node: int(node.id)):
            if verifier.problem(node, encrypted=room.node.is_encrypted) is None:
                return node
        return None

    def _settle_vanished_source(
        self, info: ObjectInfo, room: _Room, missing: S3ObjectMissingError
    ) -> None:
        """The object vanished mid-transfer: fine if a concurrent run of this job completed
        this (key, room) and then deleted it (jobs.dedup); a failed lookup fails the target
        as retryable (the next delivery looks again), no copy fails it as the S3 error does."""
        try:
            node = self._find_copy(info, room)
        except (DracoonError, S3Error) as exc:
            self._fail(info.key, room.target, exc)
            return
        if node is None:
            self._fail(info.key, room.target, missing)
            return
        self._record(info, room, node, reused=True)
        self._advance(info.size)
        self._log(
            LogCode.TRANSFERER_STATUS,
            f"job {self.job_id}: {info.location} was removed while this run read it; a "
            f"concurrent run of the job had already put it into {room.target.display_path!r}",
            file=info.key,
            room=room.target.display_path,
        )

    def _keep_one(self, info: ObjectInfo, room: _Room, node: Any) -> Any | None:
        """Another run of this job may have uploaded the same file: keep one (jobs.dedup)."""
        wanted = parse_marker(marker_for(info))
        try:
            return keep_oldest_copy(
                self.client,
                room.node.id,
                node,
                lambda other: parse_marker(other.notes) == wanted,
                size=info.size,
                encrypted=room.node.is_encrypted,
                name_contains=name_stem(sanitize_name(file_name_of(info.key))),
                verify=lambda copy: self._verifier(info).problem(
                    copy, encrypted=room.node.is_encrypted
                ),
                job_id=self.job_id,
                instance=self.instance,
                room=room.target.display_path,
            )
        except (DracoonError, JobError, S3Error) as exc:
            self._fail(info.key, room.target, exc)
            return None

    def _give_keys(self, room: _Room, node: Any, key: str) -> None:
        """Hand the file key to every reader of the room; the sharer retries failures."""
        if not room.node.is_encrypted:
            return
        try:
            report = self.client.distribute_missing_keys(file_id=node.id)
        except DracoonError as exc:
            self._log(
                LogCode.AMAZON_TO_DRACOON_ERROR,
                f"job {self.job_id}: file {node.id} is uploaded but its key could not be given "
                f"to the room's readers yet ({exc}); the DracoonGlobalSharer will retry",
                file=key,
                room=room.target.display_path,
            )
            return
        for failed in report.failed:
            self._log(
                LogCode.AMAZON_TO_DRACOON_ERROR,
                f"job {self.job_id}: file key of {node.id} not given to user {failed.user_id}: "
                f"{failed.reason}",
                file=key,
                room=room.target.display_path,
            )

    def _record_existing_for_missing(self, key: str, room: _Room) -> None:
        """Report the copy ``_check_already_done`` verified (no second download), and remove
        the room's byte-identical duplicates of it (``_drop_identical_copies``)."""
        good = [
            (marker, node)
            for marker, node in sorted(
                room.existing.get(source_id(self.bucket, key), []), key=lambda c: int(c[1].id)
            )
            if copy_problem(node, size=marker.size, encrypted=room.node.is_encrypted) is None
            and self._orphans.get(int(node.id), "unchecked") is None
        ]
        for marker, node in good[:1]:
            self.outcome.files.append(
                TransferredFile(key, room.target.display_path, room.node.id, node.id, node.name,
                                node.size or 0, reused=True)
            )  # fmt: skip
            self._drop_identical_copies(key, room, marker, node)

    def _drop_identical_copies(self, key: str, room: _Room, marker: Marker, kept: Any) -> None:
        """Delete the other copies of ``kept`` (same marker) whose content is byte for byte
        the same as ``kept``'s.

        Why here: a run whose upload DRACOON renamed is the one that removes the extra copy
        (docs/reliability.md, "Duplicate protection at the floor"). When its listing after
        the completion fails, or its worker dies before it, and the run that kept the name
        deletes the S3 object, the redelivery comes this way and finds two correct copies.
        Without the S3 object nothing tells a right copy from a wrong one of the same size,
        so only a copy proven identical to the kept one is deleted (plain room: DRACOON's
        MD5; encrypted, or no usable MD5: read back and decrypted, MD5 of the plaintext):
        that can never lose a recording. A copy that differs or cannot be compared stays
        and is logged; the job is done either way (``kept`` passed its check).
        """
        extras = [
            node
            for other, node in room.existing.get(marker.source, [])
            if other == marker and node.id != kept.id
        ]
        if not extras:
            return
        encrypted = bool(room.node.is_encrypted)
        where = room.target.display_path
        try:
            kept_md5 = self._content_md5(kept, encrypted)
        except DracoonError as exc:
            self._log(
                LogCode.AMAZON_TO_DRACOON_ERROR,
                f"job {self.job_id}: room {where!r} holds {len(extras) + 1} copies of "
                f"s3://{self.bucket}/{key}; file {kept.id} could not be read to compare them "
                f"({exc}), so the extra copies stay",
                file=key,
                room=where,
            )
            return
        for node in extras:
            try:
                same = self._content_md5(node, encrypted) == kept_md5
                deleted = self.client.delete_file(node.id) if same else False
            except DracoonError as exc:
                same, deleted, why = False, False, f"could not be compared or deleted ({exc})"
            else:
                why = "differs from it" if not same else ""
            if not same:
                self._log(
                    LogCode.AMAZON_TO_DRACOON_ERROR,
                    f"job {self.job_id}: file {node.id} ({node.name!r}) in room {where!r} "
                    f"carries the marker of s3://{self.bucket}/{key} like file {kept.id} but "
                    f"{why}; it stays: look at both files and delete the wrong one",
                    file=key,
                    room=where,
                    file_id=node.id,
                )
                continue
            self._log(
                LogCode.TRANSFERER_STATUS,
                f"job {self.job_id}: removed duplicate {node.name!r} (file {node.id}) of "
                f"{kept.name!r} (file {kept.id}) in room {where!r}, left by an earlier run"
                + ("" if deleted else "; a concurrent run had removed it already"),
                file=key,
                room=where,
                file_id=node.id,
                kept_file_id=kept.id,
            )

    def _content_md5(self, node: Any, encrypted: bool) -> str:
        """MD5 of ``node``'s plaintext: DRACOON's hash in a plain room, else read back."""
        stored = None if encrypted else reported_hash(node)
        return stored if stored is not None else str(self.client.read_back(node))

    def _delete_sources(self, infos: list[ObjectInfo]) -> None:
        """Delete each transferred object - only if it is still the one transferred.

        ``delete_object`` is conditional (ETag, or the exact version): an object overwritten
        since HeadObject is kept (S3 412), with a warning. The job still succeeds, because
        what it was asked to move is in every target, but ``s3_deleted`` stays false.
        """
        kept = []
        for info in infos:
            try:
                delete_object(self.s3, info, deadline=self.s3_deadline)
            except S3ObjectChangedError as exc:
                kept.append(info)
                log.warning(  # 15011 at WARNING: nothing is lost, nobody needs paging
                    "job %s: every target has %s (ETag %s), but it was overwritten since; the "
                    "newer object is kept, not deleted (%s). It is not transferred by this "
                    "job: check that a job for the new recording follows",
                    self.job_id, info.location, info.etag, exc,
                    extra={"code": int(LogCode.STORAGE_ERROR), "job": self.job_id,
                           "instance": self.instance, "file": info.key},
                )  # fmt: skip
            except S3Error as exc:
                message = (
                    f"job {self.job_id}: every target has {info.location}, but deleting it "
                    f"failed ({exc}); the job will be retried and only delete"
                )
                self._log(LogCode.STORAGE_ERROR, message, file=info.key)
                raise JobError(message, retryable=True) from None
        self.outcome.s3_deleted = not kept
        if self.report_files and len(kept) < len(infos):
            log_event(
                log,
                LogCode.STORAGE_STATUS,
                f"job {self.job_id}: deleted {len(infos) - len(kept)} S3 object(s) after transfer"
                + (f", kept {len(kept)} overwritten one(s)" if kept else ""),
                job=self.job_id,
                instance=self.instance,
            )

    # -- helpers --------------------------------------------------------------------------

    def _open_ranged(self, info: ObjectInfo) -> BinaryIO:
        # Streaming straight into the upload's buffers: the upload pipeline reads ahead.
        reader = RangedObjectReader(self.s3, info, self.chunk_size, deadline=self.s3_deadline)
        return reader  # type: ignore[return-value]

    def _record(self, info: ObjectInfo, room: _Room, node: Any, *, reused: bool) -> None:
        self.outcome.files.append(
            TransferredFile(info.key, room.target.display_path, room.node.id, node.id, node.name,
                            info.size, reused)
        )  # fmt: skip

    def _fail(self, key: str | None, target: ResolvedTarget, exc: BaseException) -> None:
        retryable = is_retryable(exc)
        failure = TargetFailure(key, target.display_path, f"{type(exc).__name__}: {exc}", retryable,
                                dependency_of(exc))  # fmt: skip
        self.outcome.failures.append(failure)
        code = (
            LogCode.STORAGE_ERROR if isinstance(exc, S3Error) else LogCode.AMAZON_TO_DRACOON_ERROR
        )
        what = f"s3://{self.bucket}/{key}" if key else "resolving"
        self._log(
            code,
            f"job {self.job_id}: instance {self.instance}: {what} -> room "
            f"{target.display_path!r} failed: {failure.error}; {self._advice(retryable)}",
            file=key,
            room=target.display_path,
        )

    def _advice(self, retryable: bool) -> str:
        """What the operator does about a failure: wait for the retry, or fix something."""
        if retryable:
            return "the job will be retried"
        return (
            "needs a configuration or permission fix: check the DRACOON account of instance "
            f"{self.instance} (recordings.dracoon.* in the configurator) and its rights in "
            f"parent room {self.parent_room_id}, then redrive the message"
        )

    def _job_error(self) -> JobError:
        failures = self.outcome.failures
        summary = "; ".join(
            f"{f's3://{self.bucket}/{f.key}' if f.key else 'resolving'} -> room {f.target!r}: "
            f"{f.error}"
            for f in failures[:5]
        ) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
        kept = "S3 objects kept" if self.remove_after else "S3 objects untouched"
        retryable = all(f.retryable for f in failures)
        error = JobError(
            f"job {self.job_id}: instance {self.instance}: {len(failures)} target(s) failed, "
            f"{kept}: {summary}; {self._advice(retryable)}",
            retryable=retryable,
        )
        kinds = {f.dependency for f in failures}
        error.dependency = kinds.pop() if len(kinds) == 1 else "dracoon"
        return error

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise JobError(f"job {self.job_id} cancelled before it finished", retryable=True)

    def _advance(self, size: int) -> None:
        self._done_before += size
        self._report(self._done_before)

    def _report(self, done: int) -> None:
        if self.progress is not None:
            try:
                self.progress(done, self._total)
            except Exception:  # a broken progress callback must not break the transfer
                log.debug("progress callback failed", exc_info=True)

    def _log(self, code: LogCode, message: str, **fields: Any) -> None:
        log_event(log, code, message, job=self.job_id, instance=self.instance, **fields)


class _RoomMissingError(JobError):
    """A target room does not exist (looking for earlier copies without creating rooms)."""


def _restartable(exc: BaseException) -> bool:
    """Worth a new upload channel in this run: DRACOON may have acted on a call that must
    not be repeated, or failed transiently (5xx, no answer), or stored other bytes than were
    sent (and that file is gone again) -- not a refusal (4xx)."""
    if isinstance(exc, UploadCorruptedError):
        return exc.deleted  # a broken file still in the room must not meet a new copy
    if isinstance(exc, UploadInterruptedError | DracoonConnectionError):
        return True
    return isinstance(exc, DracoonApiError) and exc.status in _TRANSIENT_STATUSES


def room_gone(exc: BaseException) -> bool:
    """DRACOON answered 404: the room (a cached id) or the upload channel in it is gone. An
    answer, not a lost one: DRACOON did not act, so uploading again is safe."""
    return isinstance(exc, DracoonApiError) and exc.status == 404


def name_stem(name: str) -> str:
    """``talk.mp4`` -> ``talk``: the part of a file name that DRACOON's autorename keeps."""
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name
