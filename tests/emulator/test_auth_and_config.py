"""OAuth grants, token expiry and revocation; public and config endpoints."""

from __future__ import annotations

import time

import urllib3

from tests.emulator.conftest import CLIENT_BASIC, Api, token_for
from tests.support.emulator_fixtures import default_seed


def _token(server, fields, headers=None):
    response = urllib3.PoolManager(retries=False).request(
        "POST",
        server.base_url + "/oauth/token",
        fields=fields,
        encode_multipart=False,
        headers=headers or {},
    )
    return response.status, response.json() if response.data else None


def test_password_grant_with_basic_or_form_client_credentials(emulator):
    status, body = _token(
        emulator,
        {"grant_type": "password", "username": "alice", "password": "alice-pw"},
        {"Authorization": CLIENT_BASIC},
    )
    assert status == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["refresh_token"] and body["scope"] == "all"
    status, body = _token(
        emulator,
        {
            "grant_type": "password",
            "username": "alice",
            "password": "alice-pw",
            "client_id": "dracoon_legacy_scripting",
            "client_secret": "",
        },
    )
    assert status == 200


def test_oauth_errors_use_the_oauth_shape(emulator):
    basic = {"Authorization": CLIENT_BASIC}
    status, body = _token(
        emulator, {"grant_type": "password", "username": "alice", "password": "no"}, basic
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = _token(emulator, {"grant_type": "password", "username": "alice"}, basic)
    assert (status, body["error"]) == (400, "invalid_request")
    status, body = _token(emulator, {"grant_type": "client_credentials"}, basic)
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    status, body = _token(
        emulator,
        {"grant_type": "password", "username": "alice", "password": "alice-pw"},
        {"Authorization": "Basic " + "b3RoZXI6c2VjcmV0"},  # other:secret
    )
    assert (status, body["error"]) == (401, "invalid_client")


def test_tokens_expire_and_refresh_grant_issues_new_ones(emulator_factory, test_key_pairs):
    seed = default_seed(test_key_pairs) | {"token_lifetime_seconds": 1}
    server = emulator_factory(seed)
    status, body = _token(
        server,
        {"grant_type": "password", "username": "bob", "password": "bob-pw"},
        {"Authorization": CLIENT_BASIC},
    )
    api = Api(server, body["access_token"])
    assert api.get("/user/account").status == 200
    time.sleep(1.1)
    expired = api.get("/user/account")
    assert expired.status == 401 and expired.json()["code"] == 401
    status, refreshed = _token(
        server,
        {
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": "dracoon_legacy_scripting",
            "client_secret": "",
        },
    )
    assert status == 200
    assert Api(server, refreshed["access_token"]).get("/user/account").status == 200
    status, bad = _token(
        server,
        {"grant_type": "refresh_token", "refresh_token": "nope"},
        {"Authorization": CLIENT_BASIC},
    )
    assert (status, bad["error"]) == (400, "invalid_grant")


def test_admin_expiry_and_revoke_answer_401(emulator):
    api = Api(emulator, token_for(emulator, "service"))
    assert api.get("/user/account").status == 200
    assert api.admin("POST", "/tokens/expire").status == 200
    assert api.get("/user/account").status == 401
    api.token = token_for(emulator, "service")
    revoked = urllib3.PoolManager().request(
        "POST",
        emulator.base_url + "/oauth/revoke",
        fields={"token": api.token, "token_type_hint": "access_token"},
        encode_multipart=False,
        headers={"Authorization": CLIENT_BASIC},
    )
    assert revoked.status == 200
    assert api.get("/user/account").status == 401


def test_missing_or_bad_token_gives_401_with_error_body(emulator):
    api = Api(emulator)
    reply = api.get("/nodes")
    assert reply.status == 401
    assert set(reply.json()) >= {"code", "message", "debugInfo"}
    assert api.get("/nodes", headers={"Authorization": "Bearer forged"}).status == 401
    legacy = api.get("/nodes", headers={"X-Sds-Auth-Token": token_for(emulator, "alice")})
    assert legacy.status == 200


def test_public_endpoints_need_no_token(emulator_factory, test_key_pairs):
    server = emulator_factory(default_seed(test_key_pairs, s3_direct=True))
    api = Api(server)
    assert api.get("/public/software/version").json()["restApiVersion"]
    info = api.get("/public/system/info").json()
    assert info["useS3Storage"] is True and info["s3EnforceDirectUpload"] is False
    assert {"languageDefault", "hideLoginInputFields", "s3Hosts"} <= set(info)
    assert api.get("/public/system/info/auth/ad").json() == {"items": []}
    assert api.get("/public/system/info/auth/openid").json() == {"items": []}
    assert api.get("/public/time").json()["time"].endswith("Z")


def test_config_endpoints(api):
    service = api("service")
    general = service.get("/config/info/general").json()
    assert general["cryptoEnabled"] is True and general["useS3Storage"] is False
    assert general["authTokenRestrictions"]["accessTokenValidity"] == 3600
    assert service.get("/config/info/defaults").status == 200
    assert service.get("/config/info/infrastructure").json()["s3EnforceDirectUpload"] is False
    algorithms = service.get("/config/info/policies/algorithms").json()
    assert algorithms["keyPairAlgorithms"][0] == {
        "version": "RSA-4096",
        "description": "RSA 4096 bit",
        "status": "REQUIRED",
    }
    assert service.get("/user/ping").status == 200
