"""Streaming AES-256-GCM: chunked == one-shot (bytes and tag), wrappers, edge cases, memory."""

from __future__ import annotations

import io
import itertools
import os
import tracemalloc

import pytest
from Crypto.Cipher import AES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recording_storage.dracoon.crypto import (
    DecryptingWriter,
    EncryptingReader,
    FileDecrypter,
    FileEncrypter,
    InvalidFileKeyError,
    PlainFileKey,
    TagMismatchError,
)

KEY = PlainFileKey(bytes(range(32)), bytes(range(100, 112)))

data_strategy = st.binary(max_size=20_000)
chunks_strategy = st.lists(st.integers(min_value=1, max_value=5_000), min_size=1, max_size=20)


def _reference(key: PlainFileKey, data: bytes) -> tuple[bytes, bytes]:
    """pycryptodome's one-shot GCM, used directly as the independent reference."""
    cipher = AES.new(key.key, AES.MODE_GCM, nonce=key.iv, mac_len=16)
    return cipher.encrypt_and_digest(data)


def _pieces(data: bytes, sizes: list[int]):
    offset = 0
    for size in itertools.cycle(sizes):
        if offset >= len(data):
            return
        yield data[offset : offset + size]
        offset += size


def _fresh_key() -> PlainFileKey:
    return PlainFileKey(KEY.key, KEY.iv)


@settings(max_examples=150, deadline=None)
@given(data=data_strategy, sizes=chunks_strategy)
def test_chunked_encryption_equals_one_shot(data, sizes):
    expected_ct, expected_tag = _reference(KEY, data)
    encrypter = FileEncrypter(_fresh_key())
    ciphertext = b"".join(encrypter.encrypt(piece) for piece in _pieces(data, sizes))
    finished = encrypter.finalize()
    assert ciphertext == expected_ct
    assert finished.tag == expected_tag
    assert (finished.key, finished.iv) == (KEY.key, KEY.iv)
    assert encrypter.bytes_processed == len(data)


@settings(max_examples=100, deadline=None)
@given(data=data_strategy, sizes=chunks_strategy)
def test_encrypting_into_buffers_equals_one_shot(data, sizes):
    expected_ct, expected_tag = _reference(KEY, data)
    encrypter = FileEncrypter(_fresh_key())
    out = bytearray(len(data))
    view = memoryview(out)
    offset = 0
    for piece in _pieces(data, sizes):
        assert encrypter.encrypt(piece, output=view[offset : offset + len(piece)]) is None
        offset += len(piece)
    assert bytes(out) == expected_ct
    assert encrypter.finalize().tag == expected_tag


@settings(max_examples=100, deadline=None)
@given(data=data_strategy, sizes=chunks_strategy)
def test_in_place_encryption_and_decryption(data, sizes):
    expected_ct, expected_tag = _reference(KEY, data)
    buffer = bytearray(data)
    view = memoryview(buffer)
    encrypter = FileEncrypter(_fresh_key())
    offset = 0
    for piece in _pieces(data, sizes):
        part = view[offset : offset + len(piece)]
        encrypter.encrypt(part, output=part)
        offset += len(piece)
    finished = encrypter.finalize()
    assert bytes(buffer) == expected_ct and finished.tag == expected_tag

    decrypter = FileDecrypter(finished)
    offset = 0
    for piece in _pieces(data, list(reversed(sizes))):
        part = view[offset : offset + len(piece)]
        decrypter.decrypt(part, output=part)
        offset += len(piece)
    decrypter.finalize()
    assert bytes(buffer) == data


@settings(max_examples=150, deadline=None)
@given(data=data_strategy, sizes=chunks_strategy)
def test_chunked_decryption_verifies(data, sizes):
    ciphertext, tag = _reference(KEY, data)
    decrypter = FileDecrypter(PlainFileKey(KEY.key, KEY.iv, tag))
    plaintext = b"".join(decrypter.decrypt(piece) for piece in _pieces(ciphertext, sizes))
    decrypter.finalize()
    assert plaintext == data


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=5_000), sizes=chunks_strategy, flip=st.integers(0))
def test_any_flipped_bit_fails_the_tag(data, sizes, flip):
    ciphertext, tag = _reference(KEY, data)
    damaged = bytearray(ciphertext)
    bit = flip % (len(damaged) * 8)
    damaged[bit // 8] ^= 1 << (bit % 8)
    decrypter = FileDecrypter(PlainFileKey(KEY.key, KEY.iv, tag))
    for piece in _pieces(bytes(damaged), sizes):
        decrypter.decrypt(piece)
    with pytest.raises(TagMismatchError):
        decrypter.finalize()


class _ReadOnlySource:
    """A source with read() but no readinto(), like some HTTP response bodies."""

    def __init__(self, data: bytes, max_piece: int):
        self._stream = io.BytesIO(data)
        self._max_piece = max_piece

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(min(size, self._max_piece) if size >= 0 else self._max_piece)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=data_strategy, sizes=chunks_strategy, readinto_source=st.booleans())
def test_encrypting_reader(data, sizes, readinto_source):
    expected_ct, expected_tag = _reference(KEY, data)
    source = io.BytesIO(data) if readinto_source else _ReadOnlySource(data, 3_000)
    reader = EncryptingReader(source, _fresh_key())
    with pytest.raises(RuntimeError, match="EOF"):
        reader.finalize()  # EOF not seen yet, even for empty data
    out = bytearray()
    for size in itertools.cycle(sizes):
        piece = reader.read(size)
        if not piece:
            break
        out += piece
    assert bytes(out) == expected_ct
    assert reader.finalize().tag == expected_tag
    assert reader.read(10) == b""


def test_encrypting_reader_readall_and_buffered_wrapper():
    data = os.urandom(100_000)
    expected_ct, expected_tag = _reference(KEY, data)
    reader = EncryptingReader(io.BytesIO(data), _fresh_key())
    assert reader.read() == expected_ct
    assert reader.finalize().tag == expected_tag

    raw = EncryptingReader(io.BytesIO(data), _fresh_key())
    buffered = io.BufferedReader(raw, buffer_size=8192)
    parts = []
    while piece := buffered.read(30_000):
        parts.append(piece)
    assert b"".join(parts) == expected_ct
    assert raw.finalize().tag == expected_tag


def test_encrypting_reader_does_not_close_source():
    source = io.BytesIO(b"abc")
    with EncryptingReader(source, _fresh_key()) as reader:
        reader.read()
    assert not source.closed


@settings(max_examples=100, deadline=None)
@given(data=data_strategy, sizes=chunks_strategy)
def test_decrypting_writer(data, sizes):
    ciphertext, tag = _reference(KEY, data)
    sink = io.BytesIO()
    with DecryptingWriter(sink, PlainFileKey(KEY.key, KEY.iv, tag)) as writer:
        for piece in _pieces(ciphertext, sizes):
            assert writer.write(piece) == len(piece)
    assert sink.getvalue() == data
    assert writer.closed and not sink.closed


def test_decrypting_writer_rejects_bad_tag_on_close():
    data = os.urandom(1000)
    ciphertext, _tag = _reference(KEY, data)
    writer = DecryptingWriter(io.BytesIO(), PlainFileKey(KEY.key, KEY.iv, bytes(16)))
    writer.write(ciphertext)
    with pytest.raises(TagMismatchError):
        writer.close()
    with pytest.raises(ValueError):
        writer.write(b"more")
    writer.close()  # closing again is a no-op


def test_decrypting_writer_exception_inside_with_is_not_masked():
    writer = DecryptingWriter(io.BytesIO(), PlainFileKey(KEY.key, KEY.iv, bytes(16)))
    with pytest.raises(KeyError), writer:
        writer.write(b"partial")
        raise KeyError("network broke")
    assert writer.closed


def test_empty_file():
    ciphertext, tag = _reference(KEY, b"")
    encrypter = FileEncrypter(_fresh_key())
    finished = encrypter.finalize()
    assert finished.tag == tag and ciphertext == b""

    reader = EncryptingReader(io.BytesIO(b""), _fresh_key())
    assert reader.read() == b""
    assert reader.finalize().tag == tag

    sink = io.BytesIO()
    with DecryptingWriter(sink, finished):
        pass
    assert sink.getvalue() == b""
    with pytest.raises(TagMismatchError):
        DecryptingWriter(io.BytesIO(), PlainFileKey(KEY.key, KEY.iv, bytes(16))).close()


def test_missing_tag_only_tolerated_for_empty_file():
    untagged = _fresh_key()
    decrypter = FileDecrypter(untagged)
    assert decrypter.decrypt(b"") == b""
    decrypter.finalize()  # Java SDK uploads of 0-byte files carry no tag
    with DecryptingWriter(io.BytesIO(), untagged):
        pass

    decrypter = FileDecrypter(untagged)
    with pytest.raises(InvalidFileKeyError, match="no tag"):
        decrypter.decrypt(b"x")
    with pytest.raises(InvalidFileKeyError):
        DecryptingWriter(io.BytesIO(), untagged).write(b"xyz")


def test_file_key_with_tag_cannot_encrypt_again():
    finished = FileEncrypter(_fresh_key()).finalize()
    with pytest.raises(InvalidFileKeyError, match="new file key"):
        FileEncrypter(finished)


def test_use_after_finalize_is_an_error():
    encrypter = FileEncrypter(_fresh_key())
    encrypter.encrypt(b"abc")
    tagged = encrypter.finalize()
    with pytest.raises(RuntimeError):
        encrypter.encrypt(b"more")
    assert encrypter.finalize() == tagged  # idempotent: completion requests may be retried
    decrypter = FileDecrypter(tagged)
    decrypter.decrypt(_reference(KEY, b"abc")[0])
    decrypter.finalize()
    with pytest.raises(RuntimeError):
        decrypter.decrypt(b"x")


def test_generated_keys_are_fresh():
    keys = {PlainFileKey.generate().key for _ in range(50)}
    ivs = {PlainFileKey.generate().iv for _ in range(50)}
    assert len(keys) == 50 and len(ivs) == 50


def test_large_stream_runs_in_constant_memory():
    """64 MiB through EncryptingReader with a reused 1 MiB buffer: peak memory stays small."""
    total = 64 * 1024 * 1024
    chunk = 1024 * 1024

    class Zeros(io.RawIOBase):
        def __init__(self):
            self.left = total

        def readable(self):
            return True

        def readinto(self, buffer):
            count = min(len(buffer), self.left)
            memoryview(buffer)[:count] = b"\0" * count
            self.left -= count
            return count

    buffer = bytearray(chunk)
    tracemalloc.start()
    try:
        reader = EncryptingReader(Zeros(), _fresh_key())
        seen = 0
        while count := reader.readinto(buffer):
            seen += count
        reader.finalize()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == total
    assert peak < 4 * chunk, f"peak {peak} bytes for a {total}-byte stream"
