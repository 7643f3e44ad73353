"""Download URLs: no auth, Range requests, HEAD, discard storage."""

from __future__ import annotations

import http.client
import urllib.parse

import pytest

from tests.emulator.conftest import Api, token_for
from tests.support.emulator_fixtures import default_seed


@pytest.fixture
def stored(api):
    service = api("service")
    node = service.upload(service.node_id("/Plain"), "d.bin", bytes(range(256)) * 4).json()
    url = service.post(f"/nodes/files/{node['id']}/downloads").json()["downloadUrl"]
    return service, node, url


def test_download_url_works_without_auth(stored):
    service, node, url = stored
    reply = service.get(url, headers={"Authorization": ""})
    assert reply.status == 200 and reply.data == bytes(range(256)) * 4
    assert reply.headers["Content-Length"] == "1024"
    assert reply.headers["Accept-Ranges"] == "bytes"
    head = service.request("HEAD", url, headers={"Authorization": ""})
    assert head.status == 200 and head.headers["Content-Length"] == "1024" and head.data == b""
    direct = service.get(f"/nodes/files/{node['id']}/downloads")
    assert direct.status == 200 and len(direct.data) == 1024


@pytest.mark.parametrize(
    ("header", "status", "content_range", "expected"),
    [
        ("bytes=0-0", 206, "bytes 0-0/1024", bytes([0])),
        ("bytes=1020-", 206, "bytes 1020-1023/1024", bytes([252, 253, 254, 255])),
        ("bytes=-2", 206, "bytes 1022-1023/1024", bytes([254, 255])),
        ("bytes=1000-5000", 206, "bytes 1000-1023/1024", (bytes(range(256)) * 4)[1000:]),
        ("bytes=2000-", 416, "bytes */1024", None),
        ("items=1-2", 416, "bytes */1024", None),
    ],
)
def test_ranges(stored, header, status, content_range, expected):
    service, _, url = stored
    reply = service.get(url, headers={"Range": header, "Authorization": ""})
    assert reply.status == status
    assert reply.headers["Content-Range"] == content_range
    if expected is not None:
        assert reply.data == expected


def test_download_errors(stored, api):
    service, node, url = stored
    assert service.get(url + "x").status == 404
    assert service.post("/nodes/files/424242/downloads").error_code == -40751
    folder = service.post("/nodes/folders", {"parentId": node["parentId"], "name": "f"}).json()
    assert service.post(f"/nodes/files/{folder['id']}/downloads").status == 404


def test_discard_storage_keeps_size_and_hash_only(emulator_factory, test_key_pairs):
    server = emulator_factory(default_seed(test_key_pairs) | {"storage": "discard"})
    client = Api(server, token_for(server, "service"))
    node = client.upload(client.node_id("/Plain"), "big.bin", b"abc").json()
    assert node["size"] == 3
    listed = next(n for n in client.admin("GET", "/nodes").json() if n["id"] == node["id"])
    assert listed["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    url = client.post(f"/nodes/files/{node['id']}/downloads").json()["downloadUrl"]
    reply = client.get(url)
    assert reply.status == 404 and reply.error_code == -40751


def test_empty_file_downloads_as_zero_bytes(api):
    service = api("service")
    node = service.upload(service.node_id("/Plain"), "empty.bin", b"").json()
    url = service.post(f"/nodes/files/{node['id']}/downloads").json()["downloadUrl"]
    # Twice on one keep-alive connection: the first answer must not break the handler.
    connection = http.client.HTTPConnection("127.0.0.1", service.server.port, timeout=5)
    for _ in range(2):
        connection.request("GET", urllib.parse.urlsplit(url).path)
        reply = connection.getresponse()
        assert reply.status == 200 and reply.read() == b""
        assert reply.getheader("Content-Length") == "0"
    connection.close()
