"""Streaming AES-256-GCM over a whole file, chunk by chunk or as file-like wrappers.

DRACOON encrypts a file as ONE GCM stream: the cipher is set up once with the file key's 12-byte
IV, every chunk goes through it in order, and the 16-byte tag from the end goes into the file
key (the uploaded blob is the bare ciphertext, as long as the plaintext). Chunk boundaries do
not change the result, so uploads can use any part size. Memory stays constant: nothing is
buffered here, and ``output=`` lets callers encrypt into a buffer they reuse.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any, BinaryIO, overload

from Crypto.Cipher import AES

from .errors import InvalidFileKeyError, TagMismatchError
from .file_keys import TAG_BYTES, PlainFileKey


def _new_gcm(file_key: PlainFileKey) -> Any:
    # nonce= is essential: without it pycryptodome picks a random 16-byte nonce.
    return AES.new(file_key.key, AES.MODE_GCM, nonce=file_key.iv, mac_len=TAG_BYTES)


class FileEncrypter:
    """Encrypts one file. Call ``encrypt`` per chunk, then ``finalize`` once for the tag."""

    __slots__ = ("_cipher", "_file_key", "_finished", "_tagged_key", "bytes_processed")

    def __init__(self, file_key: PlainFileKey) -> None:
        if file_key.tag is not None:
            raise InvalidFileKeyError(
                "this file key already has a tag, so it was used for a file before; "
                "generate a new file key for every upload (key+IV must never be reused)"
            )
        self._file_key = file_key
        self._cipher = _new_gcm(file_key)
        self._finished = False
        self._tagged_key: PlainFileKey | None = None
        self.bytes_processed = 0

    @overload
    def encrypt(self, data: Any) -> bytes: ...
    @overload
    def encrypt(self, data: Any, output: Any) -> bytes | None: ...
    def encrypt(self, data: Any, output: Any = None) -> bytes | None:
        """Encrypt the next chunk. With ``output`` (a writable buffer exactly ``len(data)``
        long, may be ``data`` itself) the ciphertext is written there and None is returned."""
        if self._finished:
            raise RuntimeError("FileEncrypter.encrypt() called after finalize()")
        result: bytes | None = self._cipher.encrypt(data, output=output)
        self.bytes_processed += len(data)
        return result

    def finalize(self) -> PlainFileKey:
        """End the stream; return the file key with its tag set (ready to be wrapped).

        Calling it again returns the same key (handy when a completion request is retried).
        """
        if self._tagged_key is None:
            self._finished = True
            self._tagged_key = dataclasses.replace(self._file_key, tag=self._cipher.digest())
        return self._tagged_key

    def __repr__(self) -> str:
        state = "finalized" if self._finished else "open"
        return f"FileEncrypter({state}, bytes_processed={self.bytes_processed})"


class FileDecrypter:
    """Decrypts one file chunk by chunk; ``finalize`` checks the tag.

    Everything ``decrypt`` returns is unauthenticated until ``finalize`` succeeded: write it
    somewhere temporary and only publish it afterwards.
    """

    __slots__ = ("_cipher", "_finished", "_tag", "bytes_processed")

    def __init__(self, file_key: PlainFileKey) -> None:
        self._tag = file_key.tag
        self._cipher = _new_gcm(file_key)
        self._finished = False
        self.bytes_processed = 0

    @overload
    def decrypt(self, data: Any) -> bytes: ...
    @overload
    def decrypt(self, data: Any, output: Any) -> bytes | None: ...
    def decrypt(self, data: Any, output: Any = None) -> bytes | None:
        """Decrypt the next chunk (into ``output`` if given, then returns None)."""
        if self._finished:
            raise RuntimeError("FileDecrypter.decrypt() called after finalize()")
        if self._tag is None and len(data):
            # Only a 0-byte file may come without a tag (the Java SDK sends none for it).
            raise InvalidFileKeyError(
                "file key has no tag, so a non-empty file cannot be authenticated; "
                "the file key is incomplete"
            )
        result: bytes | None = self._cipher.decrypt(data, output=output)
        self.bytes_processed += len(data)
        return result

    def finalize(self) -> None:
        """Verify the tag; raises TagMismatchError if file, IV, tag or key do not match."""
        if self._finished:
            raise RuntimeError("FileDecrypter.finalize() called twice")
        self._finished = True
        if self._tag is None:
            return  # only reachable for 0 bytes: decrypt() refuses data without a tag
        try:
            self._cipher.verify(self._tag)
        except ValueError:
            raise TagMismatchError(
                f"GCM tag check failed after {self.bytes_processed} bytes: the file or its "
                "file key (key, IV or tag) was modified or belongs to another file; "
                "discard the decrypted data"
            ) from None

    def __repr__(self) -> str:
        state = "finalized" if self._finished else "open"
        return f"FileDecrypter({state}, bytes_processed={self.bytes_processed})"


class EncryptingReader(io.RawIOBase):
    """A readable stream of ciphertext over a readable stream of plaintext.

    ``read``/``readinto`` return as many bytes as the source gave; encryption happens in place
    in the caller's buffer (no extra copy). After EOF, ``finalize()`` returns the file key with
    its tag. Closing this reader does not close the source.
    """

    def __init__(self, source: BinaryIO, file_key: PlainFileKey) -> None:
        super().__init__()
        self._source = source
        self._encrypter = FileEncrypter(file_key)
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        view = memoryview(buffer).cast("B")
        if self._eof or not len(view):
            return 0
        readinto = getattr(self._source, "readinto", None)
        if readinto is not None:
            count: int | None = readinto(view)
            if count is None:  # non-blocking source without data right now: not EOF
                return None
        else:
            chunk = self._source.read(len(view)) or b""
            count = len(chunk)
            view[:count] = chunk
        if count == 0:
            self._eof = True
            return 0
        part = view[:count]
        self._encrypter.encrypt(part, output=part)
        return count

    @property
    def bytes_processed(self) -> int:
        return self._encrypter.bytes_processed

    def finalize(self) -> PlainFileKey:
        """The file key with its tag; only valid once the source is exhausted."""
        if not self._eof:
            raise RuntimeError("EncryptingReader.finalize() before the source reached EOF")
        return self._encrypter.finalize()


class DecryptingWriter:
    """A writable stream that takes ciphertext and writes plaintext to ``sink``.

    ``finalize()`` (or ``close()``, or leaving a ``with`` block without an exception) checks the
    tag and raises TagMismatchError on a mismatch. The plaintext already written is
    unauthenticated until then. The sink is not closed.
    """

    def __init__(self, sink: BinaryIO, file_key: PlainFileKey) -> None:
        self._sink = sink
        self._decrypter = FileDecrypter(file_key)
        self._closed = False

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def bytes_processed(self) -> int:
        return self._decrypter.bytes_processed

    def write(self, data: Any) -> int:
        if self._closed:
            raise ValueError("write to a closed DecryptingWriter")
        size = len(memoryview(data).cast("B"))
        if size:
            self._sink.write(self._decrypter.decrypt(data))
        return size

    def flush(self) -> None:
        self._sink.flush()

    def finalize(self) -> None:
        """Verify the tag (once); further writes are refused."""
        if self._closed:
            return
        self._closed = True
        self._decrypter.finalize()

    def close(self) -> None:
        self.finalize()

    def __enter__(self) -> DecryptingWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.finalize()
        else:
            self._closed = True  # the stream is broken anyway; do not mask the real error

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"DecryptingWriter({state}, bytes_processed={self.bytes_processed})"
