"""Upload channels and what finishes them: the rules of classic (chunked) and S3-direct uploads.

The wire layer (handlers/uploads.py, handlers/s3.py) parses a request and formats the answer;
everything that reads or changes an upload, a node or the content store happens here, under
the state lock and the upload's own lock (content is streamed outside the state lock, so one
slow chunk does not stall every other request).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..bodies import body_int
from ..errors import ApiError, forbidden, node_not_found, upload_channel_closed, upload_not_found
from ..files import Completion, create_file, parse_completion
from ..model import FILE, Node, Upload, User, now_iso
from ..permissions import effective, is_visible
from ..quota import check_room_quota
from ..seed import Settings
from ..state import State
from ..storage import ContentStore

MIN_PART_SIZE = 5 * 1024 * 1024


@dataclass(frozen=True)
class ChannelRequest:
    """What ``POST /nodes/files/uploads`` asks for, parsed and shape-checked by the handler."""

    parent_id: int
    name: str
    size: int | None
    classification: int | None
    notes: str | None
    direct_s3: bool
    expire_at: str | None
    timestamp_creation: str | None
    timestamp_modification: str | None


@dataclass(frozen=True)
class UploadStatus:
    """What a status poll reports: the status, and the node or the error when there is one."""

    status: str
    node: Node | None = None
    error: dict | None = None


@dataclass(frozen=True)
class StoredPart:
    """The outcome of an S3 part PUT: an ETag, or the S3 error to answer with."""

    etag: str | None = None
    error: tuple[int, str, str] | None = None  # status, S3 code, message


class Uploads:
    """Upload channels: open, append, complete (classic and S3), cancel, poll."""

    def __init__(self, state: State, store: ContentStore, settings: Settings) -> None:
        self._state = state
        self._store = store
        self._settings = settings
        self._upload_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, upload_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._upload_locks.setdefault(upload_id, threading.Lock())

    # channels --------------------------------------------------------------------------------
    def check_mode(self, direct_s3: bool) -> None:
        """Whether this instance takes S3-direct (``useS3Storage``) or classic uploads."""
        settings = self._settings
        if direct_s3 and not settings.s3_direct_upload:
            raise ApiError(412, -90030, "S3 direct upload is not available (useS3Storage is false)")
        if not direct_s3 and settings.s3_enforce_direct_upload:
            raise ApiError(400, -90033, "S3 direct upload is enforced; set directS3Upload=true")

    def open_channel(self, user: User, wanted: ChannelRequest) -> Upload:
        """A new channel into a room or folder the user may create files in."""
        self.check_mode(wanted.direct_s3)
        state = self._state
        with state.lock:
            parent = state.nodes.get(wanted.parent_id)
            if parent is None or not is_visible(state, parent, user.id):
                raise node_not_found(wanted.parent_id)
            if parent.type == FILE:
                raise ApiError(
                    400, -80000, f"Parent {wanted.parent_id} is a file; upload into a room/folder"
                )
            if "create" not in effective(state, parent, user.id):
                raise forbidden(
                    f"User has no 'create' permission on node {parent.id} to upload files"
                )
            check_room_quota(state, parent, wanted.size or 0)  # the declared size, when given
            if state.is_encrypted(parent) and not user.key_pairs:
                raise ApiError(
                    403, -70020, "User has no key pair; needed to upload into an encrypted room"
                )
            upload = Upload(
                id=secrets.token_urlsafe(12),
                token=secrets.token_urlsafe(24),
                user_id=user.id,
                parent_id=parent.id,
                name=wanted.name,
                direct_s3=wanted.direct_s3,
                created_at=now_iso(),
                notes=wanted.notes,
                expire_at=wanted.expire_at,
                classification=wanted.classification,
                timestamp_creation=wanted.timestamp_creation,
                timestamp_modification=wanted.timestamp_modification,
                blob_id=None if wanted.direct_s3 else self._store.create(),
            )
            state.uploads[upload.id] = upload
            state.upload_tokens[upload.token] = upload.id
        return upload

    def by_token(self, token: str) -> Upload:
        """The open channel of an upload token (404 -20501 otherwise)."""
        with self._state.lock:
            upload = self._state.upload_by_token(token)
            if upload is None or not upload.open:
                raise upload_not_found()
            return upload

    def by_id(self, upload_id: str, user: User, *, need_open: bool = True) -> Upload:
        """The caller's channel (404 -20501 for another user's, a cancelled or a closed one)."""
        with self._state.lock:
            upload = self._state.uploads.get(upload_id)
            if upload is None or upload.user_id != user.id or upload.status == "cancelled":
                raise upload_not_found()
            if need_open and not upload.open:
                raise upload_not_found()
            return upload

    # classic ---------------------------------------------------------------------------------
    def append_chunk(self, upload: Upload, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Append a chunk in arrival order: the channel's size so far and the chunk's MD5."""
        if upload.direct_s3:
            raise ApiError(400, -80000, "This upload channel is for S3 direct upload; use s3_urls")
        with self._lock(upload.id):
            if not upload.open or upload.blob_id is None:
                raise upload_not_found()
            digest = hashlib.md5(usedforsecurity=False)
            written = self._store.append(upload.blob_id, _hashed(chunks, digest))
        return written, digest.hexdigest()

    def complete(self, upload: Upload, body: dict) -> tuple[Node, User]:
        """Turn a classic channel into a file node: the node and its uploader."""
        if upload.direct_s3:
            raise ApiError(400, -80000, "This upload channel is for S3 direct upload; use /s3")
        state = self._state
        with self._lock(upload.id), state.lock:
            if not upload.open or upload.blob_id is None:
                raise upload_not_found()
            completion = parse_completion(body, self._encrypted_target(upload))
            blob = self._store.finish(upload.blob_id)
            node = create_file(state, self._store, upload, completion, blob)
            upload.status, upload.node_id = "done", node.id
            return node, state.users[upload.user_id]

    def cancel(self, upload: Upload) -> None:
        with self._lock(upload.id), self._state.lock:
            if not upload.open:
                raise upload_not_found()
            upload.status = "cancelled"
            for blob_id in [upload.blob_id, *(p["blob"] for p in upload.s3_parts.values())]:
                if blob_id:
                    self._store.delete(blob_id)
            upload.blob_id = None
            upload.s3_parts.clear()

    def poll(self, upload: Upload) -> UploadStatus:
        """A status poll (counted; the seed knob ``s3_transfer_polls`` delays "done")."""
        state = self._state
        with state.lock:
            upload.status_polls += 1
            if upload.transfer_polls_left > 0 and upload.status != "cancelled":
                upload.transfer_polls_left -= 1
                return UploadStatus("transfer")
            node = state.nodes.get(upload.node_id) if upload.status == "done" else None
            error = upload.error if upload.status == "error" else None
            return UploadStatus(upload.status, node, error)

    def _encrypted_target(self, upload: Upload) -> bool:
        parent = self._state.nodes.get(upload.parent_id)
        return parent is not None and self._state.is_encrypted(parent)

    # S3 direct -------------------------------------------------------------------------------
    def s3_channel(self, upload_id: str, user: User) -> Upload:
        """The caller's S3 channel: unknown or cancelled 404 -20501, a classic channel 404
        -90034 (it has no S3 upload), completion accepted 400 -20503 (closed)."""
        upload = self.by_id(upload_id, user, need_open=False)
        if not upload.direct_s3:
            raise ApiError(
                404, -90034, "This upload channel has no S3 upload (not a direct upload)"
            )
        if not upload.open:
            raise upload_channel_closed()
        return upload

    def sign_parts(self, upload: Upload, size: int, first: int, last: int) -> None:
        """Remember the size each part's URL is signed for (S3 checks it on the PUT)."""
        if last > first and size < MIN_PART_SIZE:
            raise ApiError(
                400,
                -80000,
                "Every part except the last must be at least 5 MiB; request the last part "
                "separately",
            )
        with self._state.lock:
            for number in range(first, last + 1):
                upload.s3_sizes[number] = size

    def signed_part_size(self, token: str, number: int) -> tuple[Upload | None, int | None]:
        """The open S3 channel of ``token`` (None: no such upload) and the signed part size."""
        with self._state.lock:
            upload = self._state.upload_by_token(token)
            if upload is None or not upload.open or not upload.direct_s3:
                return None, None
            return upload, upload.s3_sizes.get(number)

    def store_part(
        self, upload: Upload, number: int, size: int, chunks: Iterable[bytes]
    ) -> StoredPart:
        """What S3 does with a part PUT: keep the part (replacing an earlier one), hash it."""
        md5 = hashlib.md5(usedforsecurity=False)
        blob_id = self._store.create()
        self._store.append(blob_id, _hashed(chunks, md5))
        etag = md5.hexdigest()
        with self._lock(upload.id), self._state.lock:
            if not upload.open:
                self._store.delete(blob_id)
                return StoredPart(
                    error=(404, "NoSuchUpload", "The specified upload does not exist.")
                )
            old = upload.s3_parts.get(number)
            if old:
                self._store.delete(old["blob"])
            upload.s3_parts[number] = {"blob": blob_id, "size": size, "etag": etag}
        return StoredPart(etag=etag)

    def accept_s3_completion(
        self, upload: Upload, body: dict, parts: list
    ) -> tuple[list[int], Completion]:
        """Check the part list (``parts`` of the body) against the stored parts and mark the
        upload "finishing"; the caller then finishes it (``finish_s3``)."""
        state = self._state
        with self._lock(upload.id), state.lock:
            if not upload.open:
                raise upload_channel_closed()
            completion = parse_completion(body, self._encrypted_target(upload))
            numbers = []
            for part in parts:
                if not isinstance(part, dict):
                    raise ApiError(400, -80000, "parts must be objects {partNumber, partEtag}")
                number = body_int(part, "partNumber")
                etag = part.get("partEtag")
                stored = upload.s3_parts.get(number)
                if stored is None:
                    raise ApiError(400, -80045, f"Part {number} was never uploaded")
                if not isinstance(etag, str) or etag.strip('"') != stored["etag"]:
                    raise ApiError(400, -80045, f"partEtag of part {number} does not match")
                numbers.append(number)
            if numbers != sorted(set(numbers)):
                raise ApiError(
                    400, -80000, "parts must be in ascending partNumber order, no repeats"
                )
            upload.status = "finishing"
            upload.s3_sizes.clear()
            upload.transfer_polls_left = self._settings.s3_transfer_polls
        return numbers, completion

    def finish_s3(
        self,
        upload: Upload,
        numbers: list[int],
        completion: Completion,
        injected: ApiError | None = None,
        *,
        delay: bool = True,
    ) -> None:
        """Assemble the parts and create the node, as DRACOON does after ``PUT .../s3``.

        ``injected``: an ApiError from fault injection (``finish_error``) that this finish
        ends in. Never raises: the outcome is the upload's status, which clients poll.
        """
        if delay:
            time.sleep(self._settings.s3_finishing_seconds)
        state, store = self._state, self._store
        try:
            if injected is not None:
                raise injected
            too_small = [n for n in numbers[:-1] if upload.s3_parts[n]["size"] < MIN_PART_SIZE]
            if too_small:
                raise ApiError(400, -80000, f"Parts {too_small} are below the 5 MiB S3 minimum")
            blob_id = store.create()
            store.concat(blob_id, [upload.s3_parts[n]["blob"] for n in numbers])
            blob = store.finish(blob_id)
            with self._lock(upload.id), state.lock:
                if upload.status != "finishing":
                    store.delete(blob_id)
                    return
                upload.blob_id = blob_id
                try:
                    node = create_file(state, store, upload, completion, blob)
                except ApiError:
                    upload.blob_id = None
                    store.delete(blob_id)
                    raise
                upload.status, upload.node_id = "done", node.id
        except ApiError as exc:
            with state.lock:
                upload.status, upload.error = "error", exc.body()
        except Exception as exc:  # never leave a poller waiting forever
            with state.lock:
                upload.status = "error"
                upload.error = ApiError(500, None, f"Emulator failed to finish: {exc}").body()
        finally:
            for part in upload.s3_parts.values():
                store.delete(part["blob"])


def _hashed(chunks: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    """Pass the data through while hashing it: DRACOON answers each chunk with its MD5, S3
    each part with its ETag."""
    for data in chunks:
        digest.update(data)
        yield data
