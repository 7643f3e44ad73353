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

Verification: a file counts as a copy only when it passes ``copy_problem`` -- DRACOON's size
equals the recording's size (AES-GCM ciphertext is exactly as long as the plaintext, the tag
lives in the file key) and its encryption matches the room's. That catches what a lost
answer can leave behind: a chunk stored twice (file too large), a file cut short. A file
carrying the marker that fails the check is deleted (``remove_broken_copies``) and the
recording is uploaded again, so a bad copy is never reused and never makes a job succeed.
Size and encryption do not show a copy of the right length with other bytes (a chunk
altered on its way, a wrong file carrying the marker). A fresh upload is checked by the
client against DRACOON's ``hash`` (the MD5 of what it sent); a copy this run did not upload
is checked by content (``verify``: ``jobs.verify.CopyVerifier``) before it is kept -- only
the copy about to be kept, oldest first, so a run that finds just its own upload downloads
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from recording_storage.jobs.errors import JobError
from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)


def copy_problem(node: Any, *, size: int, encrypted: bool | None = None) -> str | None:
    """Why ``node`` is not a complete, correct copy of a ``size``-byte recording, or None.

    ``encrypted``: whether the room is encrypted (None: not checked). A node whose listing
    lacks ``isEncrypted`` is not judged on it (absence is not evidence).
    """
    if node.size is None:
        return "DRACOON reports no size for it"
    if int(node.size) != size:
        return f"its size is {int(node.size)} bytes, the recording has {size}"
    raw = getattr(node, "raw", None) or {}
    if encrypted is not None and "isEncrypted" in raw and bool(raw["isEncrypted"]) != encrypted:
        return "it is not encrypted but the room is" if encrypted else "it is encrypted"
    return None


def holds_requested_name(
    node: Any, requested: str, *, size: int, encrypted: bool | None = None
) -> bool:
    """Whether a run may skip the duplicate listing after its own completed upload ``node``.

    True when DRACOON kept the ``requested`` name (``autorename`` renamed nothing) and the
    completion's node is a correct copy by size and encryption. Then no other file named
    ``requested`` existed at our completion, so every copy of the recording that completes
    after ours is renamed and its run lists the room, sees ours (older) and removes its own.
    Only call it for a node that this run's upload returned on its first attempt: an
    interrupted attempt may have left a file of its own. The argument, and the one case it
    does not cover, are in docs/reliability.md ("Duplicate protection at the floor").
    """
    return node.name == requested and copy_problem(node, size=size, encrypted=encrypted) is None


FRESH_OBJECT_SECONDS = 900


def recently_written(last_modified: datetime | None, now: datetime) -> bool:
    """Whether an S3 object was written less than ``FRESH_OBJECT_SECONDS`` before ``now``.

    A first delivery skips the listing before its upload only for such objects: a copy left
    by an earlier run of the job is then at most that old, which bounds the one case the
    check after the completion does not cover (docs/reliability.md). Unknown: False.
    """
    if last_modified is None:
        return False
    age = (now - last_modified).total_seconds()
    return -FRESH_OBJECT_SECONDS < age < FRESH_OBJECT_SECONDS  # S3's clock may run ahead


def complete_copies(
    client: Any,
    room_id: int,
    is_copy: Callable[[Any], bool],
    *,
    size: int,
    encrypted: bool | None = None,
    name_contains: str | None = None,
    broken: list[tuple[Any, str]] | None = None,
) -> list[Any]:
    """The room's files carrying the marker that pass ``copy_problem`` (DRACOON lists only
    completed uploads). Files with the marker that fail it are appended to ``broken`` as
    (node, problem) when a list is given.

    ``name_contains``: the stem of the file name (autorename keeps it), so the listing does
    not grow with the room. DRACOON errors propagate: "could not look" is never "none".
    """
    good = []
    for node in client.list_children(room_id, node_type="file", name_contains=name_contains):
        if not is_copy(node):
            continue
        problem = copy_problem(node, size=size, encrypted=encrypted)
        if problem is None:
            good.append(node)
        elif broken is not None:
            broken.append((node, problem))
    return good


def remove_broken_copies(
    client: Any, room_id: int, broken: list[tuple[Any, str]], *, job_id: str, **log_fields: Any
) -> None:
    """Delete files that carry the marker but fail verification; each is logged (15009)."""
    for node, problem in broken:
        deleted = client.delete_file(node.id)
        log_event(
            log,
            LogCode.AMAZON_TO_DRACOON_ERROR,
            f"job {job_id}: file {node.id} ({node.name!r}) in room {room_id} carries this "
            f"recording's marker but is not a correct copy ({problem}); "
            + ("deleted, the recording is uploaded again" if deleted else "already gone"),
            job=job_id,
            file_id=node.id,
            **log_fields,
        )


def keep_oldest_copy(
    client: Any,
    room_id: int,
    own: Any,
    is_copy: Callable[[Any], bool],
    *,
    size: int,
    job_id: str,
    encrypted: bool | None = None,
    name_contains: str | None = None,
    verify: Callable[[Any], str | None] | None = None,
    **log_fields: Any,
) -> Any:
    """The one copy to keep of a file in room ``room_id``; deletes the other copies.

    ``own``: the file node this run uploaded or found; ``is_copy(node)``: does ``node`` carry
    the same marker; ``verify(node)``: why a copy's content is wrong, or None (applied oldest
    first until one passes; it may raise when it cannot check, and then nothing is deleted).
    Copies that fail verification, ``own`` included, are deleted. Raises JobError
    (retryable) when no verified copy is left: then nothing proves the recording is in the
    room, and the S3 object must stay.
    """
    broken: list[tuple[Any, str]] = []
    copies = complete_copies(
        client,
        room_id,
        is_copy,
        size=size,
        encrypted=encrypted,
        name_contains=name_contains,
        broken=broken,
    )
    copies.sort(key=lambda node: int(node.id))
    kept = None
    for node in copies:
        problem = verify(node) if verify is not None else None
        if problem is None:
            kept = node
            break
        broken.append((node, problem))
    remove_broken_copies(client, room_id, broken, job_id=job_id, **log_fields)
    if kept is None:
        own_problem = next((problem for node, problem in broken if node.id == own.id), None)
        why = (
            f"is not a correct copy ({own_problem}) and was deleted"
            if own_problem
            else "is no longer listed (deleted meanwhile?)"
        )
        raise JobError(
            f"job {job_id}: file {own.id} ({own.name!r}) was uploaded into room {room_id} but "
            f"{why}; S3 object kept, the job will be retried",
            retryable=True,
        )
    gone = {node.id for node, _ in broken}
    for extra in copies:
        if extra.id == kept.id or extra.id in gone:
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
