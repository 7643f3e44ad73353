"""Our file key wraps are byte for byte the official SDKs' wraps, not only decryptable.

RSA-OAEP is randomised: two wraps of one key differ, so "decrypts both ways" cannot show
that the mask generation (``file_keys._mgf1``, hashlib since c550010) is the reference one
for every byte. But the random seed of a wrap can be recovered with the private key
(RFC 8017, 7.1.2: unmask the seed with MGF1 of the masked data block). Re-wrapping the
vector's plain key with that seed must then give exactly the ciphertext the official SDK
committed (tests/data/dracoon-crypto-vectors.json): any difference in the OAEP hash, the
MGF1 hash or the MGF1 itself changes every byte. The seed is recovered with pycryptodome's
own MGF1, so the check does not lean on the code under test.
"""

from __future__ import annotations

import Crypto.Random
import pytest
from Crypto.Signature.pss import MGF1

from recording_storage.dracoon.crypto import encrypt_file_key
from recording_storage.dracoon.crypto.versions import key_pair_parameters

from .test_vectors import _key_pair_for
from .vectors import SDKS_WITH_FILES, encrypted_file_key, plain_file_key

FOLDERS = [("fk_rsa2048_aes256gcm", "A"), ("fk_rsa4096_aes256gcm", "RSA-4096")]


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def _oaep_seed(ciphertext: bytes, private_key, params) -> bytes:
    """The random seed an OAEP wrap used (raw RSA, then the reference MGF1)."""
    k = private_key.size_in_bytes()
    em = pow(int.from_bytes(ciphertext, "big"), private_key.d, private_key.n).to_bytes(k, "big")
    h_len = params.oaep_hash.digest_size
    assert em[0] == 0
    masked_seed, masked_db = em[1 : 1 + h_len], em[1 + h_len :]
    seed = _xor(masked_seed, MGF1(masked_db, h_len, params.mgf1_hash))
    db = _xor(masked_db, MGF1(seed, k - h_len - 1, params.mgf1_hash))
    assert db[:h_len] == params.oaep_hash.new(b"").digest(), "not this version's OAEP"
    return seed


@pytest.mark.parametrize("sdk", SDKS_WITH_FILES)
@pytest.mark.parametrize(("folder", "version"), FOLDERS)
def test_our_wrap_with_the_sdks_seed_is_the_sdks_ciphertext(
    crypto_vectors, unlock_vector, monkeypatch, sdk, folder, version
):
    data = f"{sdk}/data/{folder}"
    theirs = encrypted_file_key(crypto_vectors, f"{data}/enc_file_key.json")
    plain = plain_file_key(crypto_vectors, f"{data}/plain_file_key.json")
    key_pair = unlock_vector(_key_pair_for(sdk, version))
    params = key_pair_parameters(key_pair.version)
    seed = _oaep_seed(theirs.key, key_pair._private_key, params)

    def the_sdks_seed(size: int) -> bytes:
        assert size == len(seed)
        return seed

    monkeypatch.setattr(Crypto.Random, "get_random_bytes", the_sdks_seed)
    ours = encrypt_file_key(plain, key_pair.public_key_container)

    assert ours.version == theirs.version
    assert ours.key == theirs.key  # the wire bytes, not only the same plain key
