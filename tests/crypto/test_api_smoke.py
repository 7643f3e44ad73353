"""Fast end-to-end check of the public API on the Java unit vectors (legacy KDF, < 1 s)."""

import io

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


def test_unit_vectors_end_to_end(crypto_vectors):
    vector = crypto_vectors
    container = UserKeyPairContainer(
        PrivateKeyContainer.from_json(vector.json("unit/data/kp_rsa2048/private_key.json")),
        PublicKeyContainer.from_json(vector.json("unit/data/kp_rsa2048/public_key.json")),
    )
    key_pair = UserKeyPair.unlock(container, vector.text("unit/data/kp_general/pw.txt"))
    encrypted = EncryptedFileKey.from_json(
        vector.json("unit/data/fk_rsa2048_aes256gcm/enc_file_key.json")
    )
    plain = decrypt_file_key(encrypted, key_pair)
    assert plain == PlainFileKey.from_json(
        vector.json("unit/data/fk_rsa2048_aes256gcm/plain_file_key.json")
    )

    ciphertext = vector.b64("unit/files/aes256gcm/enc_file.b64")
    plaintext = vector.b64("unit/files/plain_file.b64")
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
