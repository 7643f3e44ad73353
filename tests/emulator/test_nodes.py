"""Node listing (parent, depth, filters, paging), lookup, search and parents."""

from __future__ import annotations

import pytest


@pytest.fixture
def tree(api):
    """Recordings/2024/Jan (sub-rooms) + a folder and files in Plain."""
    service = api("service")
    recordings = service.node_id("/Recordings")
    plain = service.node_id("/Plain")
    year = service.post("/nodes/rooms", {"name": "2024", "parentId": recordings}).json()
    month = service.post("/nodes/rooms", {"name": "Jan", "parentId": year["id"]}).json()
    folder = service.post("/nodes/folders", {"name": "docs", "parentId": plain}).json()
    for name in ("b.mp4", "a.txt"):
        assert service.upload(plain, name, b"x" * 10).status == 201
    return {
        "recordings": recordings,
        "plain": plain,
        "year": year,
        "month": month,
        "folder": folder,
    }


def _names(reply):
    assert reply.status == 200, reply.data
    return [item["name"] for item in reply.json()["items"]]


def test_list_root_children_and_depth(api, tree):
    service = api("service")
    assert _names(service.get("/nodes")) == ["Plain", "Recordings"]
    assert _names(service.get("/nodes?parent_id=0")) == ["Plain", "Recordings"]
    # grouped by type first (rooms, folders, files), then by name
    assert _names(service.get(f"/nodes?parent_id={tree['plain']}")) == ["docs", "a.txt", "b.mp4"]
    deep = _names(service.get("/nodes?depth_level=-1&filter=type:eq:room"))
    assert deep == ["2024", "Jan", "Plain", "Recordings"]
    assert _names(service.get("/nodes?depth_level=1&filter=type:eq:room")) == [
        "2024",
        "Plain",
        "Recordings",
    ]


def test_filters(api, tree):
    service = api("service")
    everything = "/nodes?depth_level=-1&filter="
    assert _names(service.get(everything + "type:eq:folder:file")) == ["docs", "a.txt", "b.mp4"]
    assert _names(service.get(everything + "name:cn:MP")) == ["b.mp4"]
    assert _names(service.get(everything + "name:eq:JAN")) == ["Jan"]
    assert _names(service.get(everything + "encrypted:eq:true")) == ["2024", "Jan", "Recordings"]
    assert _names(service.get(everything + "parentPath:eq:/Recordings/2024/")) == ["Jan"]
    assert _names(service.get(everything + "type:eq:file|name:cn:a")) == ["a.txt"]
    bad = service.get(everything + "colour:eq:blue")
    assert (bad.status, bad.error_code) == (400, -80000)


def test_paging_and_range(api, tree):
    service = api("service")
    page = service.get(f"/nodes?parent_id={tree['plain']}&offset=1&limit=1").json()
    assert page["range"] == {"offset": 1, "limit": 1, "total": 3}
    assert [i["name"] for i in page["items"]] == ["a.txt"]
    assert service.get("/nodes?limit=9999").json()["range"]["limit"] == 500
    for query in ("offset=-1", "limit=0", "limit=abc"):
        reply = service.get(f"/nodes?{query}")
        assert reply.status == 400
    assert service.get("/nodes?offset=-1").error_code == -80024


def test_get_node_and_visibility(api, tree):
    service, alice = api("service"), api("alice")
    node = service.get(f"/nodes/{tree['month']['id']}").json()
    assert node["parentPath"] == "/Recordings/2024/"
    assert node["isEncrypted"] is True and node["type"] == "room"
    assert node["permissions"]["manage"] is True and node["inheritPermissions"] is True
    assert "encryptionInfo" in node
    # alice reads Recordings, and 2024/Jan inherit it
    assert alice.get(f"/nodes/{tree['month']['id']}").json()["permissions"]["manage"] is False
    missing = service.get("/nodes/999999")
    assert (missing.status, missing.error_code) == (404, -41000)
    assert service.get("/nodes/abc").status == 404
    outsider = service.admin("POST", "/rooms", {"path": "Secret"}).json()
    assert service.get(f"/nodes/{outsider['id']}").status == 404


def test_search_and_parents(api, tree):
    service = api("service")
    found = service.get(
        "/nodes/search?search_string=Jan&parent_id=0&depth_level=-1"
        "&filter=parentPath:eq:/Recordings/2024/"
    )
    assert _names(found) == ["Jan"]
    assert _names(service.get("/nodes/search?search_string=*&depth_level=-1&filter=type:eq:file"))
    missing = service.get("/nodes/search")
    assert (missing.status, missing.error_code) == (400, -80000)
    parents = service.get(f"/nodes/{tree['month']['id']}/parents").json()["items"]
    assert [p["name"] for p in parents] == ["Recordings", "2024"]


def test_folder_rules_and_delete(api, tree):
    service, alice = api("service"), api("alice")
    duplicate = service.post("/nodes/folders", {"name": "DOCS", "parentId": tree["plain"]})
    assert (duplicate.status, duplicate.error_code) == (409, -41001)
    assert alice.post("/nodes/folders", {"name": "x", "parentId": tree["plain"]}).status == 403
    assert service.delete(f"/nodes/{tree['folder']['id']}").status == 204
    assert service.get(f"/nodes/{tree['folder']['id']}").status == 404


def test_node_ids_and_user_ids_do_not_overlap(api, tree):
    """A client that mixes up user and node ids gets a 404, not somebody else's object."""
    service = api("service")
    users = service.admin("GET", "/users").json()
    nodes = service.admin("GET", "/nodes").json()
    assert min(node["id"] for node in nodes) >= 1000
    assert {user["id"] for user in users}.isdisjoint(node["id"] for node in nodes)
    own_id = service.get("/user/account").json()["id"]
    mixed_up = service.get(f"/nodes/{own_id}")
    assert (mixed_up.status, mixed_up.error_code) == (404, -41000)
