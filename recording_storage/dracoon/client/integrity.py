"""Is a stored file the bytes we meant? Checks against DRACOON's ``hash`` and by download.

DRACOON reports ``Node.hash``, "MD5 hash of file" in its API description: the MD5 of the
stored bytes, i.e. of the ciphertext in an encrypted room. Two checks build on it:

- after an upload, the MD5 of what the upload sent (``UploadedFile.sent_md5``) must equal it
  (``stored_hash_problem``); a chunk altered on its way keeps its length, so the size alone
  cannot show it;
- a file we did not upload in this process (an earlier delivery's, a concurrent run's) has a
  ciphertext MD5 we cannot know: it is downloaded and decrypted with its own file key, which
  checks the GCM tag and the size, and the MD5 of its plaintext is returned for comparison
  with the source (``read_back``). Nothing of the plaintext is kept.

A server that reports no hash (empty, missing) or something that is not 32 hex digits
(``is_md5``) leaves the upload check to size and encryption, as before; docs/client.md.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .auth import AuthorizedApi
from .download import download
from .keys import KeyRing
from .models import Node

_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")


def is_md5(value: Any) -> bool:
    """Is ``value`` an MD5 in hex -- something the bytes we sent can be compared with?"""
    return isinstance(value, str) and _MD5_HEX.fullmatch(value) is not None


def reported_hash(node: Node) -> str | None:
    """DRACOON's MD5 of the stored file, lower case; None when it reports none usable."""
    value = node.raw.get("hash")
    return value.lower() if isinstance(value, str) and is_md5(value) else None


def stored_hash_problem(node: Node, sent_md5: str) -> str | None:
    """Why ``node`` does not hold the bytes whose MD5 is ``sent_md5``, or None.

    None also when DRACOON reports no usable hash (not evidence either way).
    """
    stored = reported_hash(node)
    if stored is None or stored == sent_md5.lower():
        return None
    return f"DRACOON reports MD5 {stored} for the stored file, the upload sent {sent_md5.lower()}"


class _HashingSink:
    """A write-only stream that keeps an MD5 of what passes through and drops the bytes."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes) -> int:
        self.md5.update(data)
        return len(data)


def read_back(api: AuthorizedApi, keyring: KeyRing, node: Node) -> str:
    """Download ``node`` as this account (decrypting it with its own file key: GCM tag and
    size checked) and return the hex MD5 of its plaintext; memory stays at one read buffer.

    Raises DownloadError when the file is not readable (tag mismatch, wrong size, no usable
    file key), DracoonApiError / DracoonConnectionError when the download itself failed.
    """
    sink = _HashingSink()
    download(api, keyring, node, sink)  # type: ignore[arg-type]
    return sink.md5.hexdigest()
