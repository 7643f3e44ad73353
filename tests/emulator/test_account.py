"""The account and its key pairs."""

from __future__ import annotations

from tests.emulator.conftest import Api, token_for


def test_account_has_the_fields_sdks_require(api):
    account = api("service").get("/user/account").json()
    for field in (
        "id",
        "userName",
        "firstName",
        "lastName",
        "isLocked",
        "hasManageableRooms",
        "language",
    ):
        assert field in account
    assert account["userName"] == "service"
    assert account["authData"]["method"] == "basic"
    assert "ROOM_MANAGER" in {r["name"] for r in account["userRoles"]["items"]}
    assert account["isEncryptionEnabled"] is True and account["hasManageableRooms"] is True
    assert api("alice").get("/user/account").json()["hasManageableRooms"] is False


def test_key_pair_get_list_delete_and_set(api, test_key_pairs):
    alice = api("alice")
    pair = alice.get("/user/account/keypair").json()
    assert pair["publicKeyContainer"]["version"] == "RSA-4096"
    assert pair["privateKeyContainer"]["privateKey"].startswith("-----BEGIN ENCRYPTED")
    assert alice.get("/user/account/keypair?version=RSA-4096").status == 200
    missing = alice.get("/user/account/keypair?version=A")
    assert (missing.status, missing.error_code) == (404, -70020)
    assert len(alice.get("/user/account/keypairs").json()) == 1

    container = test_key_pairs["alice"][0]
    duplicate = alice.post("/user/account/keypair", container)
    assert (duplicate.status, duplicate.error_code) == (409, -70021)
    assert alice.delete("/user/account/keypair?version=RSA-4096").status == 204
    gone = alice.get("/user/account/keypair")
    assert (gone.status, gone.error_code) == (404, -70020)
    assert alice.get("/user/account/keypairs").json() == []
    assert alice.post("/user/account/keypair", container).status == 204
    assert alice.get("/user/account/keypair").status == 200


def test_invalid_key_pairs_are_refused(api, test_key_pairs):
    bob = api("bob")
    bob.delete("/user/account/keypair")
    container = test_key_pairs["bob"][0]
    wrong_version = {
        "privateKeyContainer": {**container["privateKeyContainer"], "version": "A"},
        "publicKeyContainer": {**container["publicKeyContainer"], "version": "A"},
    }
    reply = bob.post("/user/account/keypair", wrong_version)
    assert (reply.status, reply.error_code) == (400, -70022)  # invalid public key format
    reply = bob.post("/user/account/keypair", {"publicKeyContainer": {}})
    assert (reply.status, reply.error_code) == (400, -80000)
    reply = bob.post("/user/account/keypair?x", body=b"{not json", headers={})
    assert reply.status == 400


def test_user_without_key_pair(emulator):
    created = Api(emulator).admin("POST", "/users", {"login": "carol", "password": "carol-pw"})
    assert created.status == 201
    carol = Api(emulator, token_for(emulator, "carol"))
    assert carol.get("/user/account").json()["isEncryptionEnabled"] is False
    assert carol.get("/user/account/keypair").error_code == -70020
