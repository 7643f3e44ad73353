"""No secret (password, private key, file key) in any str(), repr() or error traceback."""

from __future__ import annotations

import base64
import io
import traceback

import pytest

from recording_storage.dracoon.crypto import (
    CryptoError,
    DecryptingWriter,
    EncryptedFileKey,
    EncryptingReader,
    FileDecrypter,
    FileEncrypter,
    PlainFileKey,
    PrivateKeyContainer,
    UserKeyPair,
    UserKeyPairContainer,
    decrypt_file_key,
    encrypt_file_key,
)

PASSWORD = "Very-S3cret-Pässwort"
FILE_KEY = PlainFileKey(bytes.fromhex("a1" * 32), bytes(range(12)))


def _secret_forms(unit_key_pairs) -> list[str]:
    forms = [
        PASSWORD,
        repr(PASSWORD.encode("utf-8")),
        repr(PASSWORD.encode("latin-1")),
        FILE_KEY.key.hex(),
        base64.b64encode(FILE_KEY.key).decode(),
        repr(FILE_KEY.key),
    ]
    for key_pair in unit_key_pairs.values():
        private = key_pair._private_key
        forms += [str(int(private.d))[:40], f"{int(private.d):x}"[:40], str(int(private.p))[:40]]
        pem = key_pair.private_key_container.private_key
        forms.append(pem.splitlines()[1][:40])  # a piece of the encrypted PEM body
    return forms


def _texts(obj) -> list[str]:
    texts = [str(obj), repr(obj)]
    if isinstance(obj, BaseException):
        texts.append("".join(traceback.format_exception(obj)))
    return texts


def _failures(unit_key_pairs) -> list[BaseException]:
    errors: list[BaseException] = []

    def collect(action):
        try:
            action()
        except CryptoError as error:
            errors.append(error)
        else:
            pytest.fail(f"{action} did not fail")

    a = unit_key_pairs["A"]
    locked = UserKeyPairContainer(a.private_key_container, a.public_key_container)
    collect(lambda: UserKeyPair.unlock(locked, PASSWORD))  # wrong password
    collect(lambda: UserKeyPair.unlock(locked, PASSWORD + "\ud800"))
    broken = UserKeyPairContainer(
        PrivateKeyContainer("A", a.private_key_container.private_key.replace("M", "N", 1)), None
    )
    collect(lambda: UserKeyPair.unlock(broken, PASSWORD))
    wrapped = encrypt_file_key(FILE_KEY, a.public_key_container)
    collect(lambda: decrypt_file_key(wrapped, unit_key_pairs["RSA-4096"]))
    damaged = EncryptedFileKey(wrapped.version, bytes(256), wrapped.iv, None)
    collect(lambda: decrypt_file_key(damaged, a))
    collect(lambda: PlainFileKey(FILE_KEY.key + b"x", FILE_KEY.iv))

    def tag_mismatch():
        decrypter = FileDecrypter(PlainFileKey(FILE_KEY.key, FILE_KEY.iv, bytes(16)))
        decrypter.decrypt(b"data")
        decrypter.finalize()

    collect(tag_mismatch)
    collect(lambda: FileEncrypter(PlainFileKey(FILE_KEY.key, FILE_KEY.iv, bytes(16))))
    return errors


def test_no_secret_in_reprs_or_errors(unit_key_pairs):
    a = unit_key_pairs["A"]
    encrypter = FileEncrypter(FILE_KEY)
    encrypter.encrypt(b"payload")
    finished = encrypter.finalize()
    objects = [
        *unit_key_pairs.values(),
        a.private_key_container,
        UserKeyPairContainer(a.private_key_container, a.public_key_container),
        FILE_KEY,
        finished,
        encrypt_file_key(finished, a.public_key_container),
        encrypter,
        FileDecrypter(finished),
        EncryptingReader(io.BytesIO(b"x"), PlainFileKey.generate()),
        DecryptingWriter(io.BytesIO(), finished),
        *_failures(unit_key_pairs),
    ]
    secrets = _secret_forms(unit_key_pairs)
    for obj in objects:
        for text in _texts(obj):
            for secret in secrets:
                assert secret not in text, f"secret leaked by {type(obj).__name__}: {text[:200]}"


def test_error_messages_say_what_to_do(unit_key_pairs):
    messages = [str(error) for error in _failures(unit_key_pairs)]
    assert any("password does not open the private key" in m for m in messages)
    assert any("tag check failed" in m for m in messages)
    assert all(len(m) > 20 for m in messages)
