"""File content storage: on disk (default) or hash-and-discard for benchmarks.

Content is appended piece by piece as it arrives, so memory never grows with file size.
``discard`` mode keeps only size and hashes (bytes must then arrive in order), which lets
a benchmark push gigabytes through the emulator without filling the disk. Two hashes: MD5 is
what DRACOON reports as a file's ``hash`` (the client compares it with what it sent),
SHA-256 is for the admin view and the tests.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DISK = "disk"
DISCARD = "discard"
_READ = 1024 * 1024


@dataclass(frozen=True)
class BlobInfo:
    size: int
    sha256: str | None  # None when discard mode saw bytes out of order
    md5: str | None = None  # same; DRACOON's Node.hash


class ContentStore:
    def __init__(self, directory: Path, mode: str = DISK) -> None:
        if mode not in (DISK, DISCARD):
            raise ValueError(f"unknown storage mode {mode!r}: use 'disk' or 'discard'")
        self.mode = mode
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._hashers: dict[str, _Hashes] = {}
        self._sizes: dict[str, int] = {}
        self._broken_hash: set[str] = set()

    def create(self) -> str:
        blob_id = secrets.token_hex(12)
        with self._lock:
            self._hashers[blob_id] = _Hashes()
            self._sizes[blob_id] = 0
        if self.mode == DISK:
            self._path(blob_id).touch()
        return blob_id

    def append(self, blob_id: str, chunks: Iterable[bytes]) -> int:
        """Append the chunks; returns the number of bytes written. Callers serialise per blob."""
        hasher = self._hashers.get(blob_id)
        written = 0
        if self.mode == DISK:
            with open(self._path(blob_id), "ab") as out:
                for data in chunks:
                    out.write(data)
                    if hasher is not None:
                        hasher.update(data)
                    written += len(data)
        else:
            for data in chunks:
                if hasher is not None:
                    hasher.update(data)
                written += len(data)
        with self._lock:
            self._sizes[blob_id] = self._sizes.get(blob_id, 0) + written
            if hasher is None:
                self._broken_hash.add(blob_id)
        return written

    def concat(self, target_id: str, source_ids: Iterable[str]) -> None:
        """Append the sources (e.g. S3 parts in part order) to the target."""
        for source_id in source_ids:
            if self.mode == DISK:
                self.append(target_id, self._iter_file(self._path(source_id)))
            else:
                # Only part sizes are known; a hash over the whole file cannot be formed.
                with self._lock:
                    size = self._sizes.get(source_id, 0)
                    self._sizes[target_id] = self._sizes.get(target_id, 0) + size
                    self._broken_hash.add(target_id)

    def finish(self, blob_id: str) -> BlobInfo:
        with self._lock:
            hasher = self._hashers.pop(blob_id, None)
            size = self._sizes.get(blob_id, 0)
            broken = blob_id in self._broken_hash
        if self.mode == DISK:
            size = self._path(blob_id).stat().st_size
            if hasher is None or broken:  # e.g. after a restart: hash the file again
                hasher = _Hashes()
                for data in self._iter_file(self._path(blob_id)):
                    hasher.update(data)
                broken = False
        if broken or hasher is None:
            return BlobInfo(size=size, sha256=None)
        return BlobInfo(size=size, sha256=hasher.sha256.hexdigest(), md5=hasher.md5.hexdigest())

    def size(self, blob_id: str) -> int:
        if self.mode == DISK:
            try:
                return self._path(blob_id).stat().st_size
            except FileNotFoundError:
                return 0
        return self._sizes.get(blob_id, 0)

    def path(self, blob_id: str) -> str | None:
        """Where the content is on disk, or None in discard mode / when it is gone."""
        if self.mode != DISK:
            return None
        path = self._path(blob_id)
        return str(path) if path.exists() else None

    def delete(self, blob_id: str) -> None:
        with self._lock:
            self._hashers.pop(blob_id, None)
            self._sizes.pop(blob_id, None)
            self._broken_hash.discard(blob_id)
        if self.mode == DISK:
            self._path(blob_id).unlink(missing_ok=True)

    def wipe(self) -> None:
        with self._lock:
            self._hashers.clear()
            self._sizes.clear()
            self._broken_hash.clear()
        for entry in self.directory.iterdir():
            if entry.is_file():
                entry.unlink()

    def _path(self, blob_id: str) -> Path:
        if not blob_id.isalnum():
            raise ValueError("invalid blob id")
        return self.directory / blob_id

    @staticmethod
    def _iter_file(path: Path) -> Iterable[bytes]:
        with open(path, "rb") as handle:
            while data := handle.read(_READ):
                yield data


class _Hashes:
    """SHA-256 and MD5 of one blob, updated together."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        self.md5.update(data)
