"""What one job is going to do, decided before DRACOON is touched: the plan.

A job is carried out in three steps (docs/architecture.md, "One job"): **plan** (this
module), **execute** (``jobs.execute``: one S3 read fanned out to the targets' uploads) and
**settle** (``jobs.settle``: verify, share keys, delete the source, report). The plan is the
part that does not change while the job runs, so it is built once and is immutable:

- the sources: every S3 object of the message with the size and ETag its HeadObject
  reported (the upload, the marker and the conditional delete all refer to exactly that
  version), and the keys that are gone from S3 (an earlier delivery may have finished them);
- the target rooms, as paths below the instance's parent room (``jobs.targets``), each with
  its expiration date computed once for the job;
- the marker that identifies our own uploads of a source in a room (below), and the name
  stems the room listings are filtered by.

The room ids are not part of the plan: a room can be deleted and recreated by path while the
job runs (a cached id answering 404), so they belong to the execution.

Duplicate protection ("marker"): every uploaded file gets the notes
``recording-storage:v1 source=<id> etag=<etag> size=<bytes>`` where ``id`` is the first 32
hex digits of SHA-256 over ``bucket/key``. A file in a target room carrying the same source,
ETag and size is an earlier upload of exactly this object version (``jobs.transfer``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recording_storage.aws.s3 import ObjectInfo, S3Error, S3ObjectMissingError, head_object
from recording_storage.jobs.dedup import recently_written
from recording_storage.jobs.errors import JobError
from recording_storage.jobs.message import file_name_of
from recording_storage.jobs.targets import ResolvedTarget
from recording_storage.jobs.templates import sanitize_name
from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)

MARKER_PREFIX = "recording-storage:v1"
_MARKER = re.compile(
    r"recording-storage:v1 source=(?P<source>[0-9a-f]{32}) etag=(?P<etag>\S*) size=(?P<size>\d+)"
)
MAX_FILTERED_LISTINGS = 4  # more keys in one job: one full listing per room is cheaper


def source_id(bucket: str, key: str) -> str:
    """The marker's name for ``bucket/key``: stable, and without the key's characters."""
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
    """The marker in a file's notes, or None when the file is not one of our uploads."""
    match = _MARKER.search(notes or "")
    if not match:
        return None
    return Marker(match["source"], match["etag"], int(match["size"]))


def name_stem(name: str) -> str:
    """``talk.mp4`` -> ``talk``: the part of a file name that DRACOON's autorename keeps."""
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name


@dataclass(frozen=True)
class PlannedSource:
    """One S3 object version to transfer, and how its uploads are named and recognised."""

    info: ObjectInfo
    notes: str  # the marker, as written into every upload's notes
    marker: Marker
    file_name: str  # the name in DRACOON (sanitised)

    @property
    def key(self) -> str:
        return self.info.key

    @property
    def size(self) -> int:
        return self.info.size

    @property
    def stem(self) -> str:
        """What the room listings for this source's copies filter by (autorename keeps it)."""
        return name_stem(self.file_name)

    def is_copy(self, notes: str | None) -> bool:
        """Do ``notes`` carry this source's marker (same source, ETag and size)?"""
        return parse_marker(notes) == self.marker


def plan_source(info: ObjectInfo) -> PlannedSource:
    notes = marker_for(info)
    marker = parse_marker(notes)
    assert marker is not None  # marker_for writes what parse_marker reads
    return PlannedSource(info, notes, marker, sanitize_name(file_name_of(info.key)))


@dataclass(frozen=True)
class PlannedTarget:
    """One target room (a path below the parent room) and the expiry of files put there."""

    target: ResolvedTarget
    expire_at: datetime | None

    @property
    def display_path(self) -> str:
        return self.target.display_path


@dataclass(frozen=True)
class TransferPlan:
    """Everything one job will do, fixed before its first DRACOON request."""

    job_id: str
    instance: str
    parent_room_id: int
    bucket: str
    keys: tuple[str, ...]  # as in the message
    sources: tuple[PlannedSource, ...]  # the keys that exist in S3, in message order
    missing: tuple[str, ...]  # the keys gone from S3
    targets: tuple[PlannedTarget, ...]
    chunk_size: int
    remove_after: bool  # s3.removeAfterTransferring
    s3_deadline: float | None  # s3.rangeDeadlineSeconds
    # List the rooms for earlier uploads before uploading? Not on the first SQS delivery of a
    # message whose objects were written in the last 15 minutes and go once transferred: the
    # check after the upload finds any copy (docs/reliability.md, "Duplicate protection at
    # the floor").
    list_before_upload: bool = True

    @property
    def listing_stems(self) -> tuple[str | None, ...]:
        """The ``name_contains`` filters of a room's listing for our earlier uploads: one per
        distinct stem, or one unfiltered listing (None) when a job has many keys."""
        stems = sorted({name_stem(sanitize_name(file_name_of(key))) for key in self.keys})
        return tuple(stems) if len(stems) <= MAX_FILTERED_LISTINGS else (None,)

    @property
    def total_bytes(self) -> int:
        """Bytes of one copy of every existing source (progress multiplies by the rooms)."""
        return sum(source.size for source in self.sources)

    def source_id(self, key: str) -> str:
        return source_id(self.bucket, key)


@dataclass(frozen=True)
class TransferRequest:
    """What one delivery of a job asks for, as the runner resolved it from the message and
    the instance's configuration: which S3 objects go into which target rooms."""

    job_id: str
    instance: str  # the instance's domain
    parent_room_id: int  # the instance's room; the targets are paths below it
    bucket: str
    keys: tuple[str, ...]  # as in the message
    targets: tuple[ResolvedTarget, ...]
    now: datetime  # the job's start: the targets' expiration counts from it
    # The SQS message's first receive (``TransferPlan.list_before_upload``).
    first_delivery: bool = False


@dataclass(frozen=True)
class TransferOptions:
    """How a job runs: the knobs from the settings, the same for every job of a worker."""

    chunk_size: int  # s3.chunkSize: the ranged GETs and the upload chunks
    remove_after: bool  # s3.removeAfterTransferring
    s3_deadline: float | None = None  # s3.rangeDeadlineSeconds: one GET, Head or Delete
    report_files: bool = True  # report each file (workers.FileTransferer.reportLevel)
    # One S3 read for all targets of a key (jobs.tee); off means one read per target.
    read_once: bool = True


def plan_transfer(request: TransferRequest, options: TransferOptions, s3: Any) -> TransferPlan:
    """HeadObject every key (exists? size? ETag?) and fix the job's plan.

    A key that does not exist is recorded as missing (whether an earlier delivery finished
    it is for the execution to find out); any other S3 error fails the job (JobError,
    retryable as the error is).
    """
    job_id, instance, now = request.job_id, request.instance, request.now
    sources: list[PlannedSource] = []
    missing: list[str] = []
    for key in request.keys:
        try:
            info = head_object(s3, request.bucket, key, deadline=options.s3_deadline)
        except S3ObjectMissingError:
            missing.append(key)
            continue
        except S3Error as exc:
            log_event(log, LogCode.STORAGE_ERROR, str(exc), job=job_id, instance=instance, file=key)
            raise JobError(str(exc), retryable=exc.retryable) from None
        sources.append(plan_source(info))
    return TransferPlan(
        job_id=job_id,
        instance=instance,
        parent_room_id=request.parent_room_id,
        bucket=request.bucket,
        keys=tuple(request.keys),
        sources=tuple(sources),
        missing=tuple(missing),
        targets=tuple(
            PlannedTarget(target, target.expiration.expire_at(now) if target.expiration else None)
            for target in request.targets
        ),
        chunk_size=options.chunk_size,
        remove_after=options.remove_after,
        s3_deadline=options.s3_deadline,
        # A vanished key (an earlier run exists) or an object written longer ago than
        # dedup.FRESH_OBJECT_SECONDS (its copy may be old): the rooms are listed even on a
        # first delivery.
        list_before_upload=not (
            request.first_delivery
            and options.remove_after
            and not missing
            and all(recently_written(source.info.last_modified, now) for source in sources)
        ),
    )
