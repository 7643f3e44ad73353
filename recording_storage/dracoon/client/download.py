"""Downloads (for checks, verification tools and the demo), decrypting encrypted files.

Plaintext of an encrypted file is written to ``out`` as it is decrypted, i.e. *before* the
GCM tag at the end proves it authentic. ``download`` raises :class:`DownloadError` when the
tag does not match; callers must treat ``out`` as untrusted until ``download`` returned.
"""

from __future__ import annotations

import logging
from typing import BinaryIO

from urllib3.exceptions import HTTPError

from recording_storage.dracoon.crypto import (
    CryptoError,
    EncryptedFileKey,
    FileDecrypter,
    PlainFileKey,
    TagMismatchError,
    decrypt_file_key,
)

from .auth import AuthorizedApi
from .errors import DownloadError, DracoonApiError, DracoonConnectionError
from .keys import KeyRing
from .models import Node
from .transport import RetryKind

log = logging.getLogger(__name__)

READ_SIZE = 1024 * 1024


def download(api: AuthorizedApi, keyring: KeyRing, node: Node, out: BinaryIO) -> int:
    """Write the (decrypted) content of ``node`` to ``out``; return the plaintext byte count."""
    what = f"file {node.name!r} (id {node.id})"
    decrypter = FileDecrypter(_file_key(api, keyring, node)) if node.is_encrypted else None
    try:
        answer = (
            api.call("POST", f"/v4/nodes/files/{node.id}/downloads", kind=RetryKind.REPEATABLE)
            or {}
        )
    except DracoonApiError as exc:
        raise exc.with_context(f"downloading {what}") from None
    url = answer.get("downloadUrl")
    if not url:
        raise DownloadError(f"downloading {what}: DRACOON returned no download URL")
    try:
        response = api.transport.request("GET", url, preload=False, label="<download URL>")
    except DracoonApiError as exc:
        raise exc.with_context(f"downloading {what}") from None
    written = 0
    try:
        for chunk in response.stream(READ_SIZE):
            if decrypter is not None:
                chunk = decrypter.decrypt(chunk)
            out.write(chunk)
            written += len(chunk)
    except CryptoError as exc:
        raise DownloadError(f"downloading {what}: {exc}") from None
    except (OSError, HTTPError) as exc:
        raise DracoonConnectionError(
            f"downloading {what} broke off after {written} bytes ({type(exc).__name__})"
        ) from None
    finally:
        response.release_conn()
    if node.size is not None and written != node.size:
        raise DownloadError(f"downloading {what}: got {written} bytes, expected {node.size}")
    if decrypter is not None:
        try:
            decrypter.finalize()
        except TagMismatchError as exc:
            raise DownloadError(f"downloading {what}: integrity check failed: {exc}") from None
    return written


def _file_key(api: AuthorizedApi, keyring: KeyRing, node: Node) -> PlainFileKey:
    what = f"file {node.name!r} (id {node.id})"
    try:
        data = api.call("GET", f"/v4/nodes/files/{node.id}/user_file_key")
    except DracoonApiError as exc:
        raise exc.with_context(f"reading the file key of {what}") from None
    try:
        encrypted = EncryptedFileKey.from_json(data)
        pair = keyring.for_file_key(encrypted.version)
        if pair is None:
            raise DownloadError(f"{what}: no key pair for file key version {encrypted.version!r}")
        return decrypt_file_key(encrypted, pair)
    except CryptoError as exc:
        raise DownloadError(f"{what}: cannot decrypt its file key: {exc}") from None
