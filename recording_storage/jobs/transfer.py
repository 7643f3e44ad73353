"""One job's work: S3 objects -> (encrypted) files in every target room, then S3 clean-up.

This module is the job's entry point (``Transfer``, called by ``jobs.runner``) and the one
place that shows the order of events; each step is a module of its own:

1. **plan** (``jobs.plan``): HeadObject every key (exists? size? ETag) before touching
   DRACOON; the sources, the target rooms with their expiration, the marker.
2. **execute** (``jobs.execute``, ``jobs.rooms``): resolve (create) each target room under
   the instance's parent room and list our earlier uploads in it (by the marker, below;
   skipped on a first SQS delivery of objects written in the last 15 minutes with
   ``s3.removeAfterTransferring``: the check after the upload finds any copy,
   docs/reliability.md "Duplicate protection at the floor");
   for every key, the rooms that still need it get it from one S3 read fanned out to their
   uploads (encrypted when the room is, with the target's expiration and the marker as
   notes), each upload returning an ``UploadResult``; interrupted uploads are restarted.
3. **settle** (``jobs.settle``): verify every file that is to count (earlier copies before
   the uploads, new ones after), keep one copy per room, hand the file key to every room
   reader; only when every key reached every target, and ``s3.removeAfterTransferring`` is
   true, delete the S3 objects. Any failure keeps them, and the job fails (retried or
   dead-lettered).

Duplicate protection ("marker", ``jobs.plan.marker_for``): every uploaded file carries in its
notes the source (``bucket/key``), ETag and size of the S3 object it was uploaded from. A
redelivered job skips a (key, room) whose room holds a file with the same source, ETag and
size; if the S3 object is already gone (deleted by an earlier run that crashed before the
message was deleted), a file with the same source in every target room proves the job done
(if it passes verification, below). A DRACOON upload only becomes a file when it is
completed, so a crash mid-upload leaves nothing to match and the file is uploaded again.
Two runs of the same job at the same time converge to one file per target (``jobs.dedup``);
the gone path deletes byte-identical duplicates a renamed run could not remove
(``jobs.settle``: ``Settlement._drop_identical_copies``).

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
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

# is_retryable stays importable from here (tests and older callers use jobs.transfer).
from recording_storage.jobs.errors import is_retryable
from recording_storage.jobs.execute import Execution, JobProgress, SourceOpener
from recording_storage.jobs.plan import (
    PlannedSource,
    TransferOptions,
    TransferRequest,
    plan_transfer,
)
from recording_storage.jobs.rooms import Room, UploadResult
from recording_storage.jobs.settle import (
    Settlement,
    TargetFailure,
    TransferOutcome,
    TransferredFile,
)
from recording_storage.waits import CancelEvent

Progress = Callable[[int, int], None]

__all__ = [
    "SourceOpener",
    "TargetFailure",
    "Transfer",
    "TransferOptions",
    "TransferOutcome",
    "TransferRequest",
    "TransferServices",
    "TransferredFile",
    "is_retryable",
]


@dataclass(frozen=True)
class TransferServices:
    """What a job talks to: the account's DRACOON client (leased from the worker's pool for
    the job), the S3 client, and -- for tests and tools -- how to open a source (one
    stream per (key, target); it turns the one shared S3 read off)."""

    client: Any
    s3: Any
    open_source: SourceOpener | None = None


class Transfer:
    """Runs one job for one instance (all keys x all targets). Not reused across jobs.

    The entry point ``jobs.runner`` calls: what the job asks for (``TransferRequest``), what
    it talks to (``TransferServices``) and how it runs (``TransferOptions``) in, ``run()``
    out. ``cancel``: the job's cancel event (its ``deadlines.JobBudget``); a
    ``waits.CancelEvent`` wakes the job's waits at once when set. ``progress(done, total)``
    is called from the job's thread."""

    def __init__(
        self,
        request: TransferRequest,
        services: TransferServices,
        options: TransferOptions,
        *,
        cancel: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.request = request
        self.services = services
        self.options = options
        self.cancel = cancel if cancel is not None else CancelEvent()
        self.progress = progress

    def run(self) -> TransferOutcome:
        client, s3 = self.services.client, self.services.s3
        plan = plan_transfer(self.request, self.options, s3)
        settle = Settlement(plan, client=client, s3=s3, report_files=self.options.report_files)
        progress = JobProgress(self.progress)
        execution = Execution(
            plan,
            settle,
            client=client,
            s3=s3,
            cancel=self.cancel,
            progress=progress,
            open_source=self.services.open_source,
            read_once=self.options.read_once,
        )
        if plan.missing:  # raises unless earlier runs finished them
            settle.check_already_done(
                plan.missing, lambda: execution.resolve_rooms(create=False, quiet=True)
            )
        rooms = execution.resolve_rooms(create=True)
        progress.total = plan.total_bytes * len(rooms)
        for source in plan.sources:
            execution.check_cancel()
            usable = []
            for room in rooms:
                if settle.drop_broken_copies(source, room):
                    usable.append(room)
                else:
                    progress.advance(source.size)
            todo = [room for room in usable if not settle.earlier_copies(source, room)]
            started = execution.upload_read_once(source, todo)
            for room in usable:
                if not started:
                    execution.check_cancel()
                _transfer_one(settle, execution, progress, source, room, started.get(room))
        for room in rooms:
            for key in plan.missing:
                settle.record_existing_for_missing(key, room)
        return settle.finish()


def _transfer_one(
    settle: Settlement,
    execution: Execution,
    progress: JobProgress,
    source: PlannedSource,
    room: Room,
    started: Future[UploadResult] | None,
) -> None:
    """Reuse, or upload, ``source`` into ``room``; ``started``: its read-once upload
    (``Execution.upload_read_once``), whose result or exception to take first."""
    copies = settle.earlier_copies(source, room)
    if copies:  # verified by drop_broken_copies
        if settle.reused(source, room, copies):
            progress.advance(source.size)
        return
    result = execution.upload(source, room, started)
    if result is None:
        return
    progress.report(progress.done)
    settle.uploaded(source, result)
