"""Missing file keys against the emulator: readers get their keys (more than one page of 100),
broken users are reported and skipped, and the readers can then decrypt."""

from __future__ import annotations

import io

from .conftest import admin, node_id


def test_more_than_100_missing_keys_are_all_distributed(emulator, make_client):
    service = make_client(emulator)
    room = service.resolve_room_path(node_id(emulator, "Recordings"), "Keys")
    files = [
        service.upload(room.id, f"f{i:02}.bin", io.BytesIO(b"secret %d" % i), 8 + (i > 9))
        for i in range(55)
    ]
    report = service.distribute_missing_keys(room_id=node_id(emulator, "Recordings"))
    assert report.failed == []
    assert report.keys_set >= 110  # alice and bob, 55 files each
    again = service.distribute_missing_keys()
    assert (again.keys_set, again.failed) == (0, [])
    for login in ("alice", "bob"):
        reader = make_client(emulator, login)
        out = io.BytesIO()
        reader.download(files[42].id, out)
        assert out.getvalue() == b"secret 42"


def test_one_file_only(emulator, make_client):
    service = make_client(emulator)
    room = node_id(emulator, "Recordings")
    one = service.upload(room, "one.bin", io.BytesIO(b"1"), 1)
    two = service.upload(room, "two.bin", io.BytesIO(b"2"), 1)
    report = service.distribute_missing_keys(file_id=one.id)
    assert report.keys_set == 2 and not report.failed
    alice = make_client(emulator, "alice")
    alice.download(one.id, io.BytesIO())
    rest = service.distribute_missing_keys(file_id=two.id)
    assert rest.keys_set == 2


def test_a_broken_user_is_reported_and_does_not_block_the_rest(
    emulator, make_client, test_key_pairs
):
    container, _ = test_key_pairs["bob"]
    broken = {
        "privateKeyContainer": container["privateKeyContainer"],
        # A version-"A" public key must be RSA-2048; bob's RSA-4096 key under "A" cannot be used.
        "publicKeyContainer": {
            "version": "A",
            "publicKey": container["publicKeyContainer"]["publicKey"],
        },
    }
    broken["privateKeyContainer"] = dict(broken["privateKeyContainer"], version="A")
    admin(
        emulator,
        "POST",
        "/emulator/users",
        {"login": "mallory", "password": "mallory-pw", "key_pair": broken},
    )
    room = node_id(emulator, "Recordings")
    admin(
        emulator,
        "PUT",
        f"/emulator/rooms/{room}/members",
        {"login": "mallory", "permissions": ["read"]},
    )
    service = make_client(emulator)
    node = service.upload(room, "for-all.bin", io.BytesIO(b"hello"), 5)
    report = service.distribute_missing_keys(file_id=node.id)
    assert report.keys_set == 2  # alice and bob
    assert len(report.failed) == 1
    assert report.failed[0].file_id == node.id
    assert "RSA" in report.failed[0].reason
    bob = make_client(emulator, "bob")
    out = io.BytesIO()
    bob.download(node.id, out)
    assert out.getvalue() == b"hello"
    # a second pass reports the broken user again and still terminates
    assert service.distribute_missing_keys(file_id=node.id).keys_set == 0


def test_own_upload_is_distributed_without_unwrapping_its_key(emulator, make_client, monkeypatch):
    """The uploader keeps the plain key: no RSA private-key operation for its own new files."""
    from recording_storage.dracoon.client import key_distribution

    unwraps = []
    real_decrypt = key_distribution.decrypt_file_key

    def counting_decrypt(encrypted, pair):
        unwraps.append(encrypted.version)
        return real_decrypt(encrypted, pair)

    monkeypatch.setattr(key_distribution, "decrypt_file_key", counting_decrypt)
    room = node_id(emulator, "Recordings")
    service = make_client(emulator)
    node = service.upload(room, "fresh.bin", io.BytesIO(b"fresh"), 5)
    assert service.distribute_missing_keys(file_id=node.id).keys_set == 2
    assert unwraps == []
    alice = make_client(emulator, "alice")
    out = io.BytesIO()
    alice.download(node.id, out)
    assert out.getvalue() == b"fresh"
    # Another client (say the global sharer) has no plain key: it unwraps the server's copy.
    other = make_client(emulator)
    later = service.upload(room, "later.bin", io.BytesIO(b"later"), 5)
    assert other.distribute_missing_keys(file_id=later.id).keys_set == 2
    assert len(unwraps) == 1


def test_preferred_key_pair_follows_the_server_policy(emulator, crypto_vectors):
    """A user with an "A" and an RSA-4096 pair uploads with RSA-4096 (server order), whatever
    order the pairs were created in; the "A" pair is never unlocked for that."""
    from recording_storage.dracoon.client import DracoonClient
    from tests.emulator.conftest import Api, token_for

    from .conftest import FAST_RETRY

    def pair(folder):
        return {
            "privateKeyContainer": crypto_vectors.json(f"unit/data/{folder}/private_key.json"),
            "publicKeyContainer": crypto_vectors.json(f"unit/data/{folder}/public_key.json"),
        }

    admin(
        emulator,
        "POST",
        "/emulator/users",
        {"login": "dual", "password": "dual-pw", "key_pair": pair("kp_rsa2048")},
    )
    raw = Api(emulator, token_for(emulator, "dual", "dual-pw"))
    assert raw.post("/user/account/keypair", pair("kp_rsa4096")).status == 204
    client = DracoonClient(
        emulator.base_url, "dual", "dual-pw", encryption_password="Qwer1234!", retry=FAST_RETRY
    )
    try:
        assert sorted(client._keys.versions()) == ["A", "RSA-4096"]
        assert client.key_pair.version == "RSA-4096"
        assert client._keys.unlocks == 1
    finally:
        client.close()
