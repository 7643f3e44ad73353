"""``DracoonClient``: the facade the rest of the service uses (one per account and process).

It wires the small parts together - transport (urllib3 pool + retries), OAuth session, server
capabilities, key ring, node service, uploader - and is safe to share between threads. Jobs
reuse it: the token, the unlocked key pair, the capabilities and resolved rooms are cached
for its whole life.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, BinaryIO

from urllib3.util.retry import Retry

from recording_storage.dracoon.crypto import UserKeyPair

from .auth import AuthorizedApi, OAuthSession
from .capabilities import detect_capabilities
from .download import download as _download
from .errors import DracoonApiError, DracoonError, UploadCorruptedError, UploadError
from .integrity import read_back, reported_hash, stored_hash_problem
from .key_distribution import distribute_missing_keys as _distribute
from .keys import KeyRing
from .models import KeyDistributionReport, Node, ServerCapabilities
from .names import validate_name
from .nodes import NodeService
from .recent_file_keys import RecentFileKeys
from .transport import DEFAULT_CALL_DEADLINE, ServerLocation, Transport
from .upload import (
    DEFAULT_CHUNK_SIZE,
    RESOLUTION_STRATEGIES,
    Uploader,
    UploadJob,
    UploadOptions,
)

log = logging.getLogger(__name__)


class DracoonClient:
    """A blocking, thread-safe client for one DRACOON account.

    ``base_url`` is ``https://host`` or ``https://host/api/v4``; the OAuth endpoint is derived
    from it. ``retry`` replaces the default retry budget (see ``transport.default_retry``);
    ``events`` may offer ``on_response(method, endpoint, status, seconds)`` and
    ``on_retry(method, endpoint, reason)`` (for metrics). ``call_deadline``: total seconds
    one call may take, retries included (see ``transport``).
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        client_id: str = "dracoon_legacy_scripting",
        client_secret: str = "",
        encryption_password: str | None = None,
        timeout: float = 30.0,
        retry: Retry | None = None,
        events: Any = None,
        upload_options: UploadOptions | None = None,
        room_cache_seconds: float = 300.0,
        call_deadline: float = DEFAULT_CALL_DEADLINE,
    ) -> None:
        self.location = ServerLocation.from_base_url(base_url)
        self.username = username
        self._transport = Transport(
            self.location, timeout=timeout, retry=retry, events=events, call_deadline=call_deadline
        )
        self._session = OAuthSession(
            self._transport, username, password, client_id=client_id, client_secret=client_secret
        )
        self._api = AuthorizedApi(self._transport, self._session)
        self._keys = KeyRing(self._api, username, encryption_password)
        self._nodes = NodeService(self._api, room_cache_seconds=room_cache_seconds)
        self._uploader = Uploader(self._api, upload_options)
        self._recent_keys = RecentFileKeys()
        self._capabilities: ServerCapabilities | None = None
        self._capabilities_lock = threading.Lock()
        self._told_no_hash = False

    def __repr__(self) -> str:
        return f"DracoonClient({self.location.root!r}, user={self.username!r})"

    def __enter__(self) -> DracoonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- session-wide facts ---------------------------------------------------------------------

    @property
    def capabilities(self) -> ServerCapabilities:
        """Server capabilities, detected on first use and cached."""
        with self._capabilities_lock:
            if self._capabilities is None:
                self._capabilities = detect_capabilities(self._api)
            return self._capabilities

    @property
    def key_pair(self) -> UserKeyPair:
        """The preferred key pair, unlocked once and cached (needs ``encryption_password``)."""
        return self._keys.preferred()

    @property
    def session(self) -> OAuthSession:
        return self._session

    def login(self) -> None:
        """Log in now (otherwise the first request does it); raises DracoonAuthError."""
        self._session.access_token()

    # -- nodes ----------------------------------------------------------------------------------

    def get_node(self, node_id: int) -> Node:
        return self._nodes.get_node(node_id)

    def list_children(
        self,
        parent_id: int,
        *,
        node_type: str | None = None,
        name: str | None = None,
        name_contains: str | None = None,
    ) -> Iterator[Node]:
        return self._nodes.list_children(
            parent_id, node_type=node_type, name=name, name_contains=name_contains
        )

    def resolve_room_path(
        self, parent_room_id: int, path: str | Sequence[str], *, create: bool = True
    ) -> Node:
        """Find each room of ``path`` ("a/b/c") below the room, creating missing ones.

        Names are validated first (RoomNameError names the offending part); sub-rooms inherit
        permissions; concurrent creators are fine (a 409 turns into a lookup). Resolved rooms
        are cached for ``room_cache_seconds``.
        """
        return self._nodes.resolve_room_path(parent_room_id, path, create=create)

    def forget_rooms(self) -> None:
        """Drop every cached room: one of them turned out to be gone (404), and a cached
        parent of it may be gone too; the next resolution asks DRACOON again."""
        self._nodes.forget()

    # -- files ----------------------------------------------------------------------------------

    def upload(
        self,
        parent_id: int,
        name: str,
        source: BinaryIO,
        size: int,
        *,
        expire_at: datetime | None = None,
        notes: str | None = None,
        resolution: str = "autorename",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Node:
        """Upload exactly ``size`` bytes from ``source`` as ``name`` into room ``parent_id``.

        Encrypts when the room is encrypted; classic or S3 direct according to the server.
        ``progress(bytes_done)`` is called as chunks are acknowledged. On any error, or when
        ``cancel`` gets set, the upload channel is removed and the exception propagates. A
        ``waits.CancelEvent`` (a job's ``deadlines.JobBudget`` is one) ends the upload's
        waits the moment it is set; any other event is looked at every 0.2 s.
        """
        validate_name(name)
        if size < 0:
            raise ValueError(f"size of {name!r} must be >= 0, got {size}")
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        if resolution not in RESOLUTION_STRATEGIES:
            raise ValueError(
                f"resolution must be one of {RESOLUTION_STRATEGIES}, got {resolution!r}"
            )
        capabilities = self.capabilities
        try:
            parent = self._nodes.cached_room(parent_id) or self._nodes.get_node(parent_id)
        except DracoonApiError as exc:
            if exc.status == 404:
                self._nodes.forget(parent_id)
            raise
        if parent.type not in ("room", "folder"):
            raise UploadError(
                f"cannot upload {name!r} into node {parent_id}: it is a {parent.type}"
            )
        key_pair = self._keys.preferred() if parent.is_encrypted else None
        job = UploadJob(
            parent=parent,
            name=name,
            source=source,
            size=size,
            expire_at=expire_at,
            notes=notes,
            resolution=resolution,
            chunk_size=chunk_size,
            progress=progress,
            cancel=cancel,
            key_pair=key_pair,
        )
        try:
            uploaded = self._uploader.upload(job, s3=capabilities.s3_direct_upload)
        except DracoonApiError as exc:
            if exc.status == 404:  # e.g. the (cached) room was deleted meanwhile
                self._nodes.forget(parent_id)
            raise
        node = uploaded.node
        if uploaded.sent_md5 is not None:
            node = self._check_stored_hash(node, uploaded.sent_md5, parent_id)
        if uploaded.file_key is not None:
            self._recent_keys.remember(node.id, uploaded.file_key.wrapped, uploaded.file_key.plain)
        return node

    def _check_stored_hash(self, node: Node, sent_md5: str, parent_id: int) -> Node:
        """The new file holds what was sent, or it is deleted and UploadCorruptedError raised.

        The completion's node normally carries ``hash``; when it lacks the field the node is
        read once more. A server reporting no usable hash leaves the check to size and
        encryption (said once per client at INFO).
        """
        if "hash" not in node.raw:
            node = self._nodes.get_node(node.id)
        problem = stored_hash_problem(node, sent_md5)
        if problem is None:
            if reported_hash(node) is None and not self._told_no_hash:
                self._told_no_hash = True
                log.info(
                    "DRACOON reports no MD5 for uploaded files (file %s); uploads are checked "
                    "by size and encryption only",
                    node.id,
                )
            return node
        try:
            deleted = self._nodes.delete_node(node.id)
            outcome = "it was deleted"
        except DracoonError as exc:
            deleted = False
            outcome = f"deleting it failed ({exc}): delete it by hand"
        raise UploadCorruptedError(
            f"upload of {node.name!r} into room {parent_id}: the stored file {node.id} is "
            f"not what was sent ({problem}): a chunk was altered on its way; {outcome}; the "
            "file has to be uploaded again",
            file_id=node.id,
            deleted=deleted,
        )

    def delete_file(self, file_id: int) -> bool:
        """Delete file ``file_id`` (into the recycle bin); False when it was already gone.

        Used to remove the extra copy when two runs of one job uploaded the same recording
        (``jobs.dedup``).
        """
        return self._nodes.delete_node(file_id)

    def download(self, file_id: int, out: BinaryIO) -> int:
        """Write the file's plaintext to ``out`` (decrypted, tag verified); return its size.

        ``out`` holds unauthenticated data until this returns; on DownloadError discard it.
        """
        node = self._nodes.get_node(file_id)
        return _download(self._api, self._keys, node, out)

    def read_back(self, node: Node) -> str:
        """Download ``node`` as this account without keeping it: decrypts it with its own
        file key (GCM tag and size checked) and returns the MD5 of its plaintext.

        For files this process did not upload (so the MD5 of their ciphertext is unknown):
        DownloadError means the file is not readable; other DracoonErrors mean the
        download failed (try again later).
        """
        return read_back(self._api, self._keys, node)

    def distribute_missing_keys(
        self, *, file_id: int | None = None, room_id: int | None = None
    ) -> KeyDistributionReport:
        """Wrap file keys for every reader still missing one (one file, one room, or all).

        Files this client uploaded recently need no RSA unwrap: their plain keys are kept
        (bounded, see ``RecentFileKeys``) and used when the server's copy is the one we sent.
        """
        return _distribute(
            self._api,
            self._keys,
            file_id=file_id,
            room_id=room_id,
            recent_keys=self._recent_keys,
        )

    def close(self) -> None:
        """Revoke the tokens (best effort), drop key material, close pooled connections.

        The unlocked private keys and the cached plain file keys are dropped too, so a closed
        client (say one the pool evicted after a password change) keeps no secret in memory.
        """
        try:
            self._session.revoke()
        finally:
            self._keys.forget()
            self._recent_keys.clear()
            self._transport.close()
