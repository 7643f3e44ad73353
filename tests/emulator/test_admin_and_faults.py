"""The /emulator admin API and fault injection (seeded and at runtime)."""

from __future__ import annotations

import http.client
import time

import pytest

from tests.emulator.conftest import Api, token_for
from tests.support.emulator_fixtures import default_seed


def test_admin_users_rooms_members_nodes(emulator, api):
    admin = Api(emulator)
    created = admin.admin("POST", "/users", {"login": "frank", "password": "frank-pw"})
    assert created.status == 201 and created.json()["login"] == "frank"
    duplicate = admin.admin("POST", "/users", {"login": "frank", "password": "x"})
    assert duplicate.status == 400
    room = admin.admin(
        "POST",
        "/rooms",
        {"path": "Projects/Alpha", "members": [{"login": "frank", "permissions": "all"}]},
    )
    assert room.status == 201 and room.json()["parentPath"] == "/Projects/"
    frank = Api(emulator, token_for(emulator, "frank"))
    assert frank.get(f"/nodes/{room.json()['id']}").json()["permissions"]["manage"] is True
    member = admin.admin(
        "PUT", f"/rooms/{room.json()['id']}/members", {"login": "frank", "permissions": []}
    )
    assert member.status == 204
    assert frank.get(f"/nodes/{room.json()['id']}").status == 404
    assert admin.admin("PUT", "/rooms/999/members", {"login": "frank"}).status == 404
    nodes = admin.admin("GET", "/nodes").json()
    assert {"/Recordings", "/Plain", "/Projects", "/Projects/Alpha"} <= {n["path"] for n in nodes}
    assert set(nodes[0]) >= {
        "id",
        "type",
        "name",
        "path",
        "parentId",
        "size",
        "isEncrypted",
        "notes",
        "expireAt",
        "sha256",
    }
    bad_room = admin.admin("POST", "/rooms", {"path": "Plain/Sub", "encrypted": True})
    assert bad_room.status == 400  # sub-rooms inherit encryption


def test_reset_goes_back_to_the_seed(emulator, api):
    service = api("service")
    service.upload(service.node_id("/Plain"), "x.bin", b"123")
    assert len(service.admin("GET", "/nodes").json()) == 3
    assert service.admin("POST", "/reset").status == 204
    assert [n["path"] for n in service.admin("GET", "/nodes").json()] == ["/Recordings", "/Plain"]
    assert service.get("/nodes").status == 401  # tokens are gone too


def test_429_with_retry_after_for_a_count(emulator, api):
    service = api("service")
    rule = {"method": "GET", "path": "^/api/v4/nodes$", "status": 429, "retry_after": 7, "count": 2}
    assert service.admin("POST", "/faults", {"rules": [rule]}).status == 201
    for _ in range(2):
        reply = service.get("/nodes")
        assert reply.status == 429 and reply.headers["Retry-After"] == "7"
        assert reply.json()["code"] == 429
    assert service.get("/nodes").status == 200
    assert service.get("/user/account").status == 200


def test_5xx_rate_latency_and_clearing(emulator, api):
    service = api("service")
    rules = [
        {"path": "/user/account", "status": 503, "rate": 1.0},
        {"path": "/public/time", "latency_ms": 150},
    ]
    service.admin("POST", "/faults", {"rules": rules})
    assert service.get("/user/account").status == 503
    started = time.monotonic()
    assert service.get("/public/time").status == 200
    assert time.monotonic() - started >= 0.15
    assert service.admin("GET", "/faults").json()["rules"][0]["status"] == 503
    assert service.admin("POST", "/tokens/expire").status == 200  # admin never faulted
    assert service.admin("DELETE", "/faults").status == 204
    service.token = token_for(emulator, "service")
    assert service.get("/user/account").status == 200
    never = {"path": "/user/account", "status": 500, "rate": 0.0}
    service.admin("POST", "/faults", {"rules": [never]})
    assert all(service.get("/user/account").status == 200 for _ in range(5))


def test_dropped_connection(emulator):
    admin = Api(emulator)
    admin.admin("POST", "/faults", {"rules": [{"path": "/public/", "drop_connection": True}]})
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    connection.request("GET", "/api/v4/public/time")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        connection.getresponse()
    connection.close()


@pytest.mark.parametrize(
    "rule",
    [
        {"path": "("},
        {"status": "500"},
        {"rate": 2},
        {"path": "/x"},
        {"status": 500, "colour": "red"},
        {"path": "/s3$", "finish_error": "yes"},
    ],
)
def test_bad_fault_rules_are_refused(emulator, rule):
    reply = Api(emulator).admin("POST", "/faults", {"rules": [rule]})
    assert reply.status == 400 and reply.error_code == -80000


def test_faults_from_the_seed(emulator_factory, test_key_pairs):
    seed = default_seed(test_key_pairs) | {
        "faults": [{"method": "POST", "path": "^/oauth/token$", "status": 502, "count": 1}]
    }
    server = emulator_factory(seed)
    first = Api(server).post(server.base_url + "/oauth/token", body=b"")
    assert first.status == 502
    assert token_for(server, "service")


def test_quota_exceeded_is_a_507_rule(emulator, api):
    """Quotas are not emulated; a rule answers 507 with DRACOON's quota error code instead."""
    service = api("service")
    rule = {"method": "POST", "path": "/nodes/files/uploads$", "status": 507,
            "error_code": -40200}  # fmt: skip
    service.admin("POST", "/faults", {"rules": [rule]})
    reply = service.post("/nodes/files/uploads", {"parentId": service.node_id("/Plain"),
                                                  "name": "a.bin"})  # fmt: skip
    assert (reply.status, reply.error_code) == (507, -40200)


def test_upload_channels_are_listed_without_tokens(emulator, api):
    service = api("service")
    created = service.post("/nodes/files/uploads", {"parentId": service.node_id("/Plain"),
                                                    "name": "open.bin"})  # fmt: skip
    [listed] = service.admin("GET", "/uploads").json()
    assert listed["status"] == "transfer" and listed["name"] == "open.bin"
    assert created.json()["token"] not in str(listed)
    assert service.delete(f"/nodes/files/uploads/{created.json()['uploadId']}").status == 204
    assert service.admin("GET", "/uploads").json()[0]["status"] == "cancelled"
