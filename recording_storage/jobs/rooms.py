"""The target rooms of one job as DRACOON knows them: room node and our earlier uploads.

The plan (``jobs.plan``) names each target room by its path below the instance's parent
room; this module turns the paths into rooms (created when missing) and lists, per room,
the files that carry one of the job's markers, so that the execution knows what an earlier
delivery already put there. It is separate from the plan because it changes while the job
runs: a room id taken from the client's room cache may answer 404 (the room was deleted
and must be resolved, i.e. recreated, by path again), and files are added to a room's
index as they are uploaded or removed from it when they fail verification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

from recording_storage.dracoon.client import DracoonApiError
from recording_storage.jobs.plan import Marker, PlannedTarget, TransferPlan, parse_marker

# source id -> [(marker, file node)]: our earlier uploads in a room
CopyIndex = dict[str, list[tuple[Marker, Any]]]


@dataclass(eq=False)
class Room:
    """One target room of the running job (mutable: see the module docstring; hashed and
    compared by identity)."""

    target: PlannedTarget
    node: Any  # dracoon Node of the room
    existing: CopyIndex = field(default_factory=dict)

    @property
    def id(self) -> int:
        return int(self.node.id)

    @property
    def encrypted(self) -> bool:
        return bool(self.node.is_encrypted)

    @property
    def display_path(self) -> str:
        return self.target.display_path


@dataclass(frozen=True)
class UploadResult:
    """What ``jobs.execute`` hands the settlement for one (key, room): the file that is in
    the room now, and how it got there."""

    room: Room
    node: Any  # the file's dracoon Node
    uploaded: bool  # True: this run's upload (checked by the client against DRACOON's hash);
    # False: found complete in the room after an interrupted upload (verified when found)
    interrupted: bool = False  # an earlier attempt for this (key, room) broke off

    @property
    def file_id(self) -> int:
        return int(self.node.id)

    @property
    def size(self) -> int:
        return int(self.node.size or 0)

    @property
    def share_key(self) -> bool:
        """Do the room's readers need this file's key (an encrypted room)?"""
        return self.room.encrypted


def room_gone(exc: BaseException) -> TypeGuard[DracoonApiError]:
    """DRACOON answered 404: the room (a cached id) or the upload channel in it is gone. An
    answer, not a lost one: DRACOON did not act, so uploading again is safe."""
    return isinstance(exc, DracoonApiError) and exc.status == 404


def resolve_room(
    client: Any, plan: TransferPlan, target: PlannedTarget, *, create: bool
) -> tuple[Any, CopyIndex]:
    """The target's room node and our earlier uploads in it (none looked for when the plan
    says not to list before the upload). The room id may come from the client's room cache
    (per account and path, 300 s): a room gone since (404) makes it forget its rooms and
    resolve the path again, once. DRACOON errors propagate."""
    for attempt in range(2):
        node = client.resolve_room_path(
            plan.parent_room_id, list(target.target.room_path), create=create
        )
        if create and not plan.list_before_upload:
            return node, {}
        try:
            return node, index_copies(client, plan, node)
        except DracoonApiError as exc:
            if not room_gone(exc) or attempt:
                raise
            client.forget_rooms()
    raise AssertionError("unreachable")


def index_copies(client: Any, plan: TransferPlan, room: Any) -> CopyIndex:
    """Our earlier uploads of the plan's keys in ``room``, by source id.

    Lists only files whose name contains the stem of a key's file name (autorename keeps
    the stem: ``talk (1).mp4``), so the cost does not grow with the room; a job with many
    keys lists the room once instead (``TransferPlan.listing_stems``). A file renamed by a
    user is not found and is uploaded again.
    """
    index: CopyIndex = {}
    seen: set[Any] = set()
    for stem in plan.listing_stems:
        for node in client.list_children(room.id, node_type="file", name_contains=stem):
            marker = parse_marker(node.notes)
            if marker is not None and node.id not in seen:
                seen.add(node.id)
                index.setdefault(marker.source, []).append((marker, node))
    return index
