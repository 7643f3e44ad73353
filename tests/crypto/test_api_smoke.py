"""Fast end-to-end check of the public API on the Java unit vectors (legacy KDF, < 1 s)."""

import base64
import io
import json

from recording_storage.dracoon.crypto import (
    DecryptingWriter,
    EncryptedFileKey,
    EncryptingReader,
    FileDecrypter,
    FileEncrypter,
    PlainFileKey,
    PrivateKeyContainer,
    PublicKeyContainer,
    UserKeyPair,
    UserKeyPairContainer,
    decrypt_file_key,
    encrypt_file_key,
)


def _json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_unit_vectors_end_to_end(crypto_vectors):
    unit = crypto_vectors / "unit"
    container = UserKeyPairContainer(
        PrivateKeyContainer.from_json(_json(unit / "data/kp_rsa2048/private_key.json")),
        PublicKeyContainer.from_json(_json(unit / "data/kp_rsa2048/public_key.json")),
    )
    key_pair = UserKeyPair.unlock(container, (unit / "data/kp_general/pw.txt").read_text())
    encrypted = EncryptedFileKey.from_json(
        _json(unit / "data/fk_rsa2048_aes256gcm/enc_file_key.json")
    )
    plain = decrypt_file_key(encrypted, key_pair)
    assert plain == PlainFileKey.from_json(
        _json(unit / "data/fk_rsa2048_aes256gcm/plain_file_key.json")
    )

    ciphertext = base64.b64decode((unit / "files/aes256gcm/enc_file.b64").read_text())
    plaintext = base64.b64decode((unit / "files/plain_file.b64").read_text())
    decrypter = FileDecrypter(plain)
    assert decrypter.decrypt(ciphertext) == plaintext
    decrypter.finalize()

    encrypter = FileEncrypter(PlainFileKey(plain.key, plain.iv))
    assert encrypter.encrypt(plaintext) == ciphertext
    assert encrypter.finalize() == plain

    reader = EncryptingReader(io.BytesIO(plaintext), PlainFileKey(plain.key, plain.iv))
    assert reader.read() == ciphertext
    assert reader.finalize().tag == plain.tag

    sink = io.BytesIO()
    with DecryptingWriter(sink, plain) as writer:
        writer.write(ciphertext[:7])
        writer.write(ciphertext[7:])
    assert sink.getvalue() == plaintext

    fresh = PlainFileKey.generate()
    rewrapped = encrypt_file_key(fresh, key_pair.public_key_container)
    assert decrypt_file_key(rewrapped, key_pair) == fresh
