"""Is a copy we did not upload in this run really the recording? Checked by content.

A fresh upload is checked by the client (the MD5 of what it sent against DRACOON's ``hash``,
dracoon/client/integrity.py). A copy found in the room -- by its marker on a redelivery, or
made by a concurrent run of the same job -- has a ciphertext MD5 nobody here knows, and size
and encryption (``jobs.dedup.copy_problem``) do not show other bytes of the same length. So:

- **plain room, DRACOON reports an MD5**: it must equal the MD5 of the S3 object, read once
  per key, streaming (the copy is not downloaded);
- **encrypted room** (or a plain room without a usable ``hash``): the copy is downloaded as
  the service user and decrypted with its own file key -- that checks the GCM tag and the
  size, i.e. that every reader can read it -- and the MD5 of its plaintext must equal the
  MD5 of the S3 object. Nothing of the plaintext is kept; memory is one read buffer.

Comparing with the S3 object is what tells a same-size copy of other bytes apart: a
correctly encrypted file of the wrong content passes the tag check. The S3 read is needed
anyway when the copy turns out broken (the recording is uploaded again), and it is shared by
every room of the key. When the S3 object is gone (a concurrent run finished and deleted it,
or an earlier delivery did before it crashed), only the tag check is left in an encrypted
room (``orphan_problem``: same download and decryption), and nothing more than size,
encryption and the marker in a plain room.

Cost: one S3 read per key and one download per reused copy in an encrypted room -- only on
redeliveries and concurrent runs, never on a first delivery (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from recording_storage.aws.s3 import ObjectInfo, RangedObjectReader, S3ObjectMissingError
from recording_storage.dracoon.client import DownloadError, DracoonApiError
from recording_storage.dracoon.client.integrity import reported_hash

log = logging.getLogger(__name__)

READ_BUFFER = 1024 * 1024


class CopyVerifier:
    """Content checks for the copies of one S3 object; each copy is checked at most once and
    the object is read at most once. Used from the job's thread only.

    Raises DracoonError / S3Error when a check could not be made (download or S3 read
    failed): "could not check" is never "correct" and never "broken".
    """

    def __init__(
        self, client: Any, s3: Any, info: ObjectInfo, *, range_size: int, deadline: float | None
    ) -> None:
        self.client = client
        self.s3 = s3
        self.info = info
        self.range_size = range_size
        self.deadline = deadline
        self._source_read = False
        self._source_md5: str | None = None
        self._problems: dict[int, str | None] = {}

    def trust(self, node: Any) -> None:
        """``node`` is this run's own upload, already checked by the client."""
        self._problems[int(node.id)] = None

    def problem(self, node: Any, *, encrypted: bool) -> str | None:
        """Why ``node`` does not hold the recording's bytes, or None."""
        node_id = int(node.id)
        if node_id not in self._problems:
            self._problems[node_id] = self._check(node, encrypted)
        return self._problems[node_id]

    def _check(self, node: Any, encrypted: bool) -> str | None:
        stored = reported_hash(node)
        if not encrypted and stored is not None:
            source = self.source_md5()
            if source is None or stored == source:
                return None
            return f"DRACOON reports MD5 {stored} for it, the recording's MD5 is {source}"
        try:
            content = self.client.read_back(node)
        except DownloadError as exc:
            return f"it cannot be read back ({exc})"
        except DracoonApiError as exc:
            if exc.status == 404:  # deleted meanwhile (a concurrent run): not a copy any more
                return "it was deleted meanwhile"
            raise
        source = self.source_md5()
        if source is None or content == source:
            return None
        return f"its content is not the recording's (MD5 {content}, the recording's {source})"

    def source_md5(self) -> str | None:
        """MD5 of the S3 object as transferred (ETag-conditioned reads); None when it is gone."""
        if not self._source_read:
            self._source_md5 = self._read_source_md5()
            self._source_read = True
        return self._source_md5

    def _read_source_md5(self) -> str | None:
        digest = hashlib.md5(usedforsecurity=False)
        buffer = memoryview(bytearray(min(READ_BUFFER, max(self.info.size, 1))))
        try:
            with RangedObjectReader(
                self.s3, self.info, self.range_size, deadline=self.deadline
            ) as reader:
                while count := reader.readinto(buffer):
                    digest.update(buffer[:count])
        except S3ObjectMissingError:
            log.info("%s is gone: its copies are checked without it", self.info.location)
            return None
        return digest.hexdigest()


def orphan_problem(client: Any, node: Any, *, encrypted: bool) -> str | None:
    """Why a copy whose S3 object is gone is not the recording's bytes, or None.

    Nothing is left to compare it with, so this is what can still be checked: in an encrypted
    room the copy is read back as the service user (``client.read_back``, as ``CopyVerifier``
    does), which checks the GCM tag -- every byte is the one that was encrypted -- and the
    size. A plain room's copy has no tag: size and marker (``jobs.dedup.copy_problem``) are
    all there is, so None without a download.

    DracoonErrors other than DownloadError (connection, 5xx, 404 because a concurrent run
    deleted it meanwhile) propagate: "could not check" is neither "correct" nor "damaged".
    """
    if not encrypted:
        return None
    try:
        client.read_back(node)
    except DownloadError as exc:
        return f"it cannot be read back ({exc})"
    return None
