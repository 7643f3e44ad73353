"""Concurrent runs of one job converge to exactly one file per target.

SQS visibility normally keeps a message with one worker. When it fails (visibility extensions
failing, a worker paused for longer than the timeout, two replicas receiving a message whose
visibility ran out), two runs of the same job can upload the same S3 object into the same room
at the same time. Neither sees the other's file before it starts, because a DRACOON upload
only becomes a file when it is completed; with ``autorename`` both complete (``v.mp4`` and
``v (1).mp4``).

The rule, applied by every run after it completed an upload and whenever it finds more than
one copy from an earlier delivery:

* list the room's files carrying the same marker (same source, ETag and size) and the
  marker's size;
* keep the **oldest** copy (lowest node id). DRACOON lists only completed uploads, so the kept
  copy is a complete file;
* delete every other copy (a copy already deleted by a concurrent run is fine).

Every run applies the same rule, so whichever run looks last removes the extra copies, and all
of them report the same kept file. A run deletes the S3 object only after this, so the object
is never removed while the only complete copy is one that is about to be deleted.

The other side of the race: a run whose S3 object disappears in the middle of its transfer
(the concurrent run finished first and deleted it) looks for a complete copy in the room; if
there is one, its (key, target) is done, not failed (``complete_copies``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from recording_storage.jobs.errors import JobError
from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)


def complete_copies(
    client: Any,
    room_id: int,
    is_copy: Callable[[Any], bool],
    *,
    size: int,
    name_contains: str | None = None,
) -> list[Any]:
    """The room's files carrying the marker and its size (DRACOON lists only complete files).

    ``name_contains``: the stem of the file name (autorename keeps it), so the listing does
    not grow with the room.
    """
    return [
        node
        for node in client.list_children(room_id, node_type="file", name_contains=name_contains)
        if is_copy(node) and (node.size is None or int(node.size) == size)
    ]


def keep_oldest_copy(
    client: Any,
    room_id: int,
    own: Any,
    is_copy: Callable[[Any], bool],
    *,
    size: int,
    job_id: str,
    name_contains: str | None = None,
    **log_fields: Any,
) -> Any:
    """The one copy to keep of a file in room ``room_id``; deletes the other copies.

    ``own``: the file node this run uploaded or found; ``is_copy(node)``: does ``node`` carry
    the same marker. Raises JobError (retryable) when not even ``own`` is listed any more:
    then nothing proves the recording is in the room, and the S3 object must stay.
    """
    copies = complete_copies(client, room_id, is_copy, size=size, name_contains=name_contains)
    if not copies:
        raise JobError(
            f"job {job_id}: file {own.id} ({own.name!r}) was uploaded but is no longer listed "
            f"in room {room_id} (deleted meanwhile?); S3 object kept, the job will be retried",
            retryable=True,
        )
    kept = min(copies, key=lambda node: int(node.id))
    for extra in copies:
        if extra.id == kept.id:
            continue
        deleted = client.delete_file(extra.id)
        log_event(
            log,
            LogCode.TRANSFERER_STATUS,
            f"job {job_id}: removed duplicate {extra.name!r} (file {extra.id}) of "
            f"{kept.name!r} (file {kept.id}) in room {room_id}"
            + ("" if deleted else "; a concurrent run had removed it already"),
            job=job_id,
            file_id=extra.id,
            kept_file_id=kept.id,
            **log_fields,
        )
    return kept
