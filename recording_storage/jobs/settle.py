"""Settling a job: what its files prove, who gets their keys, and whether S3 may let go.

Uploading (``jobs.execute``) only moves bytes. Whether a (key, room) is *done* is decided
here, in one place, because the same rules hold for a fresh upload, a copy an earlier
delivery left, a copy a concurrent run made, and a copy of a recording that is gone from S3:

- **verify**: a file counts only when it passes ``jobs.dedup.copy_problem`` (size and the
  room's encryption) and its content is the recording's (``jobs.verify``: a fresh upload was
  checked by the client against DRACOON's hash; another copy by the S3 object's MD5 or by
  reading it back). Two runs of one job converge to the oldest correct copy
  (``jobs.dedup.keep_oldest_copy``); copies that fail are deleted, except when the S3 object
  is gone and the damaged copy is all that is left;
- **share keys**: the readers of an encrypted room get the file key of every file kept
  there (``distribute_missing_keys``; the DracoonGlobalSharer retries what fails);
- **delete the source conditionally**: only when every key reached every target, and then
  only the object version that was transferred (ETag or version id, ``aws.s3.delete_object``);
- **report**: what was transferred, the failures with advice for the operator, and the one
  ``JobError`` that fails the job (retryable only when every failure is).

``Settlement`` keeps the job's ledger (``TransferOutcome``): the files kept and the
(key, room) pairs that failed. It is used from the job's thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recording_storage.aws.s3 import (
    ObjectInfo,
    S3Error,
    S3ObjectChangedError,
    S3ObjectMissingError,
    delete_object,
)
from recording_storage.dracoon.client import DracoonError
from recording_storage.dracoon.client.integrity import reported_hash
from recording_storage.jobs.dedup import (
    complete_copies,
    copy_problem,
    holds_requested_name,
    keep_oldest_copy,
    remove_broken_copies,
)
from recording_storage.jobs.errors import JobError, dependency_of, is_retryable
from recording_storage.jobs.plan import Marker, PlannedSource, PlannedTarget, TransferPlan
from recording_storage.jobs.rooms import Room, UploadResult
from recording_storage.jobs.verify import CopyVerifier, orphan_problem
from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)


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


class RoomMissingError(JobError):
    """A target room does not exist (looking for earlier copies without creating rooms)."""


class Settlement:
    """Verification, key sharing, the source's deletion and the report of one job."""

    def __init__(self, plan: TransferPlan, *, client: Any, s3: Any, report_files: bool) -> None:
        self.plan = plan
        self.client = client
        self.s3 = s3
        self.report_files = report_files
        self.outcome = TransferOutcome()
        self._verifiers: dict[str, CopyVerifier] = {}  # per key: content checks of copies
        self._orphans: dict[int, str | None] = {}  # file id -> problem, S3 object gone

    # -- verification ---------------------------------------------------------------------

    def verifier(self, source: PlannedSource) -> CopyVerifier:
        """The content checks of ``source``'s copies (one S3 read at most, jobs.verify)."""
        return self._verifiers.setdefault(
            source.key,
            CopyVerifier(
                self.client,
                self.s3,
                source.info,
                range_size=self.plan.chunk_size,
                deadline=self.plan.s3_deadline,
            ),
        )

    def drop_broken_copies(self, source: PlannedSource, room: Room) -> bool:
        """Delete earlier copies of ``source`` in ``room`` that fail verification (wrong size,
        wrong encryption, other content: ``jobs.verify``), so they are neither reused nor in
        the way of the new upload. False when that failed or a copy could not be checked
        (the failure is recorded; skip this key for the room)."""
        wanted = source.marker
        entries = room.existing.get(wanted.source, [])
        broken = []
        try:
            for found, node in entries:
                if found != wanted:
                    continue
                problem = copy_problem(node, size=source.size, encrypted=room.encrypted)
                if problem is None:
                    problem = self.verifier(source).problem(node, encrypted=room.encrypted)
                if problem is not None:
                    broken.append((node, problem))
        except (DracoonError, S3Error) as exc:
            self.fail(source.key, room.target, exc)
            return False
        if not broken:
            return True
        try:
            remove_broken_copies(
                self.client,
                room.id,
                broken,
                job_id=self.plan.job_id,
                instance=self.plan.instance,
                file=source.key,
                room=room.display_path,
            )
        except DracoonError as exc:
            self.fail(source.key, room.target, exc)
            return False
        gone = {node.id for node, _ in broken}
        room.existing[wanted.source] = [(m, n) for m, n in entries if n.id not in gone]
        return True

    def earlier_copies(self, source: PlannedSource, room: Room) -> list[Any]:
        """The copies of ``source`` an earlier delivery left in ``room`` (verified by
        ``drop_broken_copies``)."""
        wanted = source.marker
        return [node for found, node in room.existing.get(wanted.source, []) if found == wanted]

    def find_copy(self, source: PlannedSource, room: Room) -> Any | None:
        """The oldest verified copy of ``source`` in ``room`` (jobs.dedup, jobs.verify), or
        None. A copy failing the content check is left for ``keep_one`` to delete.

        DracoonError and S3Error propagate: a failed lookup is never taken for "no copy".
        """
        copies = complete_copies(
            self.client,
            room.id,
            lambda other: source.is_copy(other.notes),
            size=source.size,
            encrypted=room.encrypted,
            name_contains=source.stem,
        )
        verifier = self.verifier(source)
        for node in sorted(copies, key=lambda node: int(node.id)):
            if verifier.problem(node, encrypted=room.encrypted) is None:
                return node
        return None

    def keep_one(self, source: PlannedSource, room: Room, node: Any) -> Any | None:
        """Another run of this job may have uploaded the same file: keep one (jobs.dedup).
        None when no verified copy is left (the failure is recorded)."""
        try:
            return keep_oldest_copy(
                self.client,
                room.id,
                node,
                lambda other: source.is_copy(other.notes),
                size=source.size,
                encrypted=room.encrypted,
                name_contains=source.stem,
                verify=lambda copy: self.verifier(source).problem(copy, encrypted=room.encrypted),
                job_id=self.plan.job_id,
                instance=self.plan.instance,
                room=room.display_path,
            )
        except (DracoonError, JobError, S3Error) as exc:
            self.fail(source.key, room.target, exc)
            return None

    # -- a (key, room) settled ------------------------------------------------------------

    def reused(self, source: PlannedSource, room: Room, copies: list[Any]) -> bool:
        """``source`` is in ``room`` from an earlier delivery: keep one copy, record it, give
        its key. False when no copy could be kept (the failure is recorded)."""
        node = copies[0] if len(copies) == 1 else self.keep_one(source, room, copies[0])
        if node is None:
            return False
        self._record(source.info, room, node, reused=True)
        self.give_keys(room, node, source.key)
        return True

    def uploaded(self, source: PlannedSource, result: UploadResult) -> None:
        """``result.node`` reached its room in this run: converge with concurrent runs,
        record the kept copy, give its key, report it.

        The listing for other copies (``keep_one``) is skipped when DRACOON kept the
        requested name on an upload that was never interrupted: no other file had that name
        at our completion, so a concurrent run's copy completes after ours, is renamed, and
        its run removes it (``jobs.dedup.holds_requested_name``; docs/reliability.md,
        "Duplicate protection at the floor")."""
        room = result.room
        if result.uploaded:  # the client compared its hash with what was sent
            self.verifier(source).trust(result.node)
        self.outcome.bytes_transferred += source.size
        kept: Any | None = result.node
        if result.interrupted or not holds_requested_name(
            result.node, source.file_name, size=source.size, encrypted=room.encrypted
        ):  # DRACOON renamed it (another file has the name) or an attempt broke off: look
            kept = self.keep_one(source, room, result.node)
        if kept is None:
            return
        room.existing.setdefault(source.marker.source, []).append((source.marker, kept))
        self._record(source.info, room, kept, reused=False)
        if result.share_key:
            self.give_keys(room, kept, source.key)
        if self.report_files:
            log_event(
                log,
                LogCode.STORAGE_STATUS,
                f"job {self.plan.job_id}: uploaded {source.info.location} ({source.size} "
                f"bytes) as {kept.name!r} into {room.display_path!r}"
                + (f", expires {kept.expire_at:%Y-%m-%d}" if kept.expire_at else ""),
                job=self.plan.job_id,
                instance=self.plan.instance,
                file=source.key,
                room=room.display_path,
                file_id=kept.id,
            )

    def vanished(self, source: PlannedSource, room: Room, missing: S3ObjectMissingError) -> None:
        """The object vanished mid-transfer: fine if a concurrent run of this job completed
        this (key, room) and then deleted it (jobs.dedup); a failed lookup fails the target
        as retryable (the next delivery looks again), no copy fails it as the S3 error does."""
        try:
            node = self.find_copy(source, room)
        except (DracoonError, S3Error) as exc:
            self.fail(source.key, room.target, exc)
            return
        if node is None:
            self.fail(source.key, room.target, missing)
            return
        self._record(source.info, room, node, reused=True)
        self._log(
            LogCode.TRANSFERER_STATUS,
            f"job {self.plan.job_id}: {source.info.location} was removed while this run read "
            f"it; a concurrent run of the job had already put it into {room.display_path!r}",
            file=source.key,
            room=room.display_path,
        )

    def give_keys(self, room: Room, node: Any, key: str) -> None:
        """Hand the file key to every reader of the room; the sharer retries failures."""
        if not room.encrypted:
            return
        job_id = self.plan.job_id
        try:
            report = self.client.distribute_missing_keys(file_id=node.id)
        except DracoonError as exc:
            self._log(
                LogCode.AMAZON_TO_DRACOON_ERROR,
                f"job {job_id}: file {node.id} is uploaded but its key could not be given "
                f"to the room's readers yet ({exc}); the DracoonGlobalSharer will retry",
                file=key,
                room=room.display_path,
            )
            return
        for failed in report.failed:
            self._log(
                LogCode.AMAZON_TO_DRACOON_ERROR,
                f"job {job_id}: file key of {node.id} not given to user {failed.user_id}: "
                f"{failed.reason}",
                file=key,
                room=room.display_path,
            )

    # -- sources gone from S3 -------------------------------------------------------------

    def check_already_done(self, missing: tuple[str, ...], rooms: Callable[[], list[Room]]) -> None:
        """A missing source is fine only if every target room has a correct file for it:
        right size, encryption and marker, and in an encrypted room read back and decrypted
        (GCM tag). A damaged copy is kept -- it is all that is left -- and fails the job
        permanently. ``rooms()``: the target rooms, not created (RoomMissingError when one
        does not exist).

        "Could not look" (a 5xx, a timeout, a 429 after the retries, a read-back that broke
        off) is never "not there": it fails the job as retryable. Only a room that does not
        exist, or a room without a correct copy, makes the missing source a permanent error.
        """
        job_id, instance, bucket = self.plan.job_id, self.plan.instance, self.plan.bucket
        where = ", ".join(f"s3://{bucket}/{key}" for key in missing)
        try:
            found_rooms = rooms()
        except RoomMissingError:
            found_rooms = []
        except JobError as exc:
            message = (
                f"job {job_id}: {where} does not exist; checking whether an earlier "
                f"delivery transferred it failed: {exc}"
                + ("; the job will be retried" if exc.retryable else "")
            )
            self._log(LogCode.AMAZON_TO_DRACOON_ERROR, message, file=missing[0])
            raise JobError(message, retryable=exc.retryable) from None
        try:
            copies = [self._copy_of_missing(key, room) for key in missing for room in found_rooms]
        except DracoonError as exc:  # the read-back of a copy failed: could not check
            message = (
                f"job {job_id}: instance {instance}: {where} does not exist; "
                f"reading back the copy an earlier delivery left failed: {exc}; the job will "
                "be retried"
            )
            self._log(LogCode.AMAZON_TO_DRACOON_ERROR, message, file=missing[0])
            raise JobError(message, retryable=True) from None
        broken = [problem for found, problem in copies if found and problem]
        complete = len(found_rooms) == len(self.plan.targets) and all(
            found and not problem for found, problem in copies
        )
        if broken:
            message = (
                f"job {job_id}: instance {instance}: {where} is gone from S3 (an "
                "earlier delivery transferred and deleted it) and "
                + "; ".join(problem for problem in broken if problem)
                + ": it is the only copy left of the recording, so it was kept and the job is "
                "not done; restore the recording from a backup or S3 versioning if there is "
                "one and send the message again, otherwise the recording is lost -- delete "
                "the damaged file once it has been looked at"
            )
            self._log(LogCode.AMAZON_TO_DRACOON_ERROR, message, file=missing[0])
            raise JobError(message, retryable=False)
        if not complete:
            message = (
                f"job {job_id}: {where} does not exist and was not transferred by an "
                "earlier delivery; check the producer of this message"
            )
            self._log(LogCode.STORAGE_ERROR, message, file=missing[0])
            raise JobError(message, retryable=False)
        log_event(
            log,
            LogCode.TRANSFERER_STATUS,
            f"job {job_id}: {len(missing)} source(s) already transferred and removed by "
            "an earlier delivery",
            job=job_id,
            instance=instance,
        )

    def _copy_of_missing(self, key: str, room: Room) -> tuple[bool, str | None]:
        """(does ``room`` hold a file with the vanished ``key``'s marker, why none of them is
        a correct copy -- None when one is).

        Size, encryption and marker first; then, in an encrypted room, the copy is read back
        (``jobs.verify.orphan_problem``), oldest first, until one passes. A read-back that
        could not be made raises its DracoonError."""
        copies = sorted(room.existing.get(self.plan.source_id(key), []), key=lambda c: int(c[1].id))
        if not copies:
            return False, None
        problems = []
        for marker, node in copies:
            problem = copy_problem(node, size=marker.size, encrypted=room.encrypted)
            if problem is None:
                problem = self._orphan_problem(node, encrypted=room.encrypted)
            if problem is None:
                return True, None
            problems.append((node, problem))
        node, problem = problems[0]
        return True, (
            f"the copy of s3://{self.plan.bucket}/{key} in room {room.display_path!r} (file "
            f"{node.id}) is not correct, it is damaged: {problem}"
        )

    def _orphan_problem(self, node: Any, *, encrypted: bool) -> str | None:
        """``orphan_problem`` at most once per file (the check and the recording share it)."""
        node_id = int(node.id)
        if node_id not in self._orphans:
            self._orphans[node_id] = orphan_problem(self.client, node, encrypted=encrypted)
        return self._orphans[node_id]

    def record_existing_for_missing(self, key: str, room: Room) -> None:
        """Report the copy ``check_already_done`` verified (no second download), and remove
        the room's byte-identical duplicates of it (``_drop_identical_copies``)."""
        good = [
            (marker, node)
            for marker, node in sorted(
                room.existing.get(self.plan.source_id(key), []), key=lambda c: int(c[1].id)
            )
            if copy_problem(node, size=marker.size, encrypted=room.encrypted) is None
            and self._orphans.get(int(node.id), "unchecked") is None
        ]
        for marker, node in good[:1]:
            self.outcome.files.append(
                TransferredFile(key, room.display_path, room.node.id, node.id, node.name,
                                node.size or 0, reused=True)
            )  # fmt: skip
            self._drop_identical_copies(key, room, marker, node)

    def _drop_identical_copies(self, key: str, room: Room, marker: Marker, kept: Any) -> None:
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
        job_id, bucket, where = self.plan.job_id, self.plan.bucket, room.display_path
        try:
            kept_md5 = self._content_md5(kept, room.encrypted)
        except DracoonError as exc:
            self._log(
                LogCode.AMAZON_TO_DRACOON_ERROR,
                f"job {job_id}: room {where!r} holds {len(extras) + 1} copies of "
                f"s3://{bucket}/{key}; file {kept.id} could not be read to compare them "
                f"({exc}), so the extra copies stay",
                file=key,
                room=where,
            )
            return
        for node in extras:
            try:
                same = self._content_md5(node, room.encrypted) == kept_md5
                deleted = self.client.delete_file(node.id) if same else False
            except DracoonError as exc:
                same, deleted, why = False, False, f"could not be compared or deleted ({exc})"
            else:
                why = "differs from it" if not same else ""
            if not same:
                self._log(
                    LogCode.AMAZON_TO_DRACOON_ERROR,
                    f"job {job_id}: file {node.id} ({node.name!r}) in room {where!r} "
                    f"carries the marker of s3://{bucket}/{key} like file {kept.id} but "
                    f"{why}; it stays: look at both files and delete the wrong one",
                    file=key,
                    room=where,
                    file_id=node.id,
                )
                continue
            self._log(
                LogCode.TRANSFERER_STATUS,
                f"job {job_id}: removed duplicate {node.name!r} (file {node.id}) of "
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

    # -- the end of the job ---------------------------------------------------------------

    def finish(self) -> TransferOutcome:
        """Fail the job if any (key, room) failed (S3 objects kept); otherwise delete the
        sources when ``s3.removeAfterTransferring`` asks for it."""
        if self.outcome.failures:
            raise self.job_error()
        if self.plan.remove_after:
            self._delete_sources([source.info for source in self.plan.sources])
        return self.outcome

    def _delete_sources(self, infos: list[ObjectInfo]) -> None:
        """Delete each transferred object - only if it is still the one transferred.

        ``delete_object`` is conditional (ETag, or the exact version): an object overwritten
        since HeadObject is kept (S3 412), with a warning. The job still succeeds, because
        what it was asked to move is in every target, but ``s3_deleted`` stays false.
        """
        job_id, instance = self.plan.job_id, self.plan.instance
        kept = []
        for info in infos:
            try:
                delete_object(self.s3, info, deadline=self.plan.s3_deadline)
            except S3ObjectChangedError as exc:
                kept.append(info)
                log.warning(  # 15011 at WARNING: nothing is lost, nobody needs paging
                    "job %s: every target has %s (ETag %s), but it was overwritten since; the "
                    "newer object is kept, not deleted (%s). It is not transferred by this "
                    "job: check that a job for the new recording follows",
                    job_id, info.location, info.etag, exc,
                    extra={"code": int(LogCode.STORAGE_ERROR), "job": job_id,
                           "instance": instance, "file": info.key},
                )  # fmt: skip
            except S3Error as exc:
                message = (
                    f"job {job_id}: every target has {info.location}, but deleting it "
                    f"failed ({exc}); the job will be retried and only delete"
                )
                self._log(LogCode.STORAGE_ERROR, message, file=info.key)
                raise JobError(message, retryable=True) from None
        self.outcome.s3_deleted = not kept
        if self.report_files and len(kept) < len(infos):
            log_event(
                log,
                LogCode.STORAGE_STATUS,
                f"job {job_id}: deleted {len(infos) - len(kept)} S3 object(s) after transfer"
                + (f", kept {len(kept)} overwritten one(s)" if kept else ""),
                job=job_id,
                instance=instance,
            )

    # -- failures -------------------------------------------------------------------------

    def fail(self, key: str | None, target: PlannedTarget, exc: BaseException) -> None:
        """Record that ``key`` (None: the room itself) could not be settled in ``target``."""
        retryable = is_retryable(exc)
        failure = TargetFailure(key, target.display_path, f"{type(exc).__name__}: {exc}",
                                retryable, dependency_of(exc))  # fmt: skip
        self.outcome.failures.append(failure)
        code = (
            LogCode.STORAGE_ERROR if isinstance(exc, S3Error) else LogCode.AMAZON_TO_DRACOON_ERROR
        )
        what = f"s3://{self.plan.bucket}/{key}" if key else "resolving"
        self._log(
            code,
            f"job {self.plan.job_id}: instance {self.plan.instance}: {what} -> room "
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
            f"{self.plan.instance} (recordings.dracoon.* in the configurator) and its rights in "
            f"parent room {self.plan.parent_room_id}, then redrive the message"
        )

    def job_error(self) -> JobError:
        failures = self.outcome.failures
        summary = "; ".join(
            f"{f's3://{self.plan.bucket}/{f.key}' if f.key else 'resolving'} -> room "
            f"{f.target!r}: {f.error}"
            for f in failures[:5]
        ) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
        kept = "S3 objects kept" if self.plan.remove_after else "S3 objects untouched"
        retryable = all(f.retryable for f in failures)
        error = JobError(
            f"job {self.plan.job_id}: instance {self.plan.instance}: {len(failures)} target(s) "
            f"failed, {kept}: {summary}; {self._advice(retryable)}",
            retryable=retryable,
        )
        kinds = {f.dependency for f in failures}
        error.dependency = kinds.pop() if len(kinds) == 1 else "dracoon"
        return error

    def _record(self, info: ObjectInfo, room: Room, node: Any, *, reused: bool) -> None:
        self.outcome.files.append(
            TransferredFile(info.key, room.display_path, room.node.id, node.id, node.name,
                            info.size, reused)
        )  # fmt: skip

    def _log(self, code: LogCode, message: str, **fields: Any) -> None:
        log_event(log, code, message, job=self.plan.job_id, instance=self.plan.instance, **fields)
