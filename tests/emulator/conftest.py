"""Helpers for the emulator tests: a tiny urllib3 API client that logs in like an SDK."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest
import urllib3

from tests.support.emulator_fixtures import login_password
from tests.support.leaks import close_after_test

CLIENT_BASIC = "Basic " + base64.b64encode(b"dracoon_legacy_scripting:").decode()


@dataclass
class Reply:
    status: int
    headers: urllib3.HTTPHeaderDict
    data: bytes

    def json(self):
        return json.loads(self.data)

    @property
    def error_code(self):
        return self.json().get("errorCode")


class Api:
    """Calls ``/api/v4`` (paths relative to it) or absolute URLs, with a bearer token."""

    def __init__(self, server, token: str | None = None) -> None:
        self.server = server
        self.token = token
        self.http = urllib3.PoolManager(retries=False, timeout=30)
        close_after_test(self)  # however a test or fixture made it (tests/support/leaks.py)

    def close(self) -> None:
        """Close the kept-alive connections (each holds an emulator handler thread)."""
        self.http.clear()

    def request(self, method, path, *, json_body=None, body=None, headers=None, fields=None):
        url = path if path.startswith("http") else self.server.api_url + path
        all_headers = dict(headers or {})
        if self.token and "Authorization" not in all_headers:
            all_headers["Authorization"] = f"Bearer {self.token}"
        if json_body is not None:
            body = json.dumps(json_body)
            all_headers.setdefault("Content-Type", "application/json")
        response = self.http.request(
            method, url, body=body, headers=all_headers, fields=fields, redirect=False
        )
        return Reply(response.status, response.headers, response.data)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.request("POST", path, json_body=json_body, **kw)

    def put(self, path, json_body=None, **kw):
        return self.request("PUT", path, json_body=json_body, **kw)

    def delete(self, path, json_body=None, **kw):
        return self.request("DELETE", path, json_body=json_body, **kw)

    # shortcuts -------------------------------------------------------------------------
    def admin(self, method, path, json_body=None):
        return self.request(method, f"{self.server.base_url}/emulator{path}", json_body=json_body)

    def node_id(self, path: str) -> int:
        nodes = self.admin("GET", "/nodes").json()
        return next(n["id"] for n in nodes if n["path"] == path)

    def upload(self, parent_id, name, data: bytes, *, file_key=None, **channel):
        """Classic upload in one chunk; returns the completion reply."""
        created = self.post(
            "/nodes/files/uploads", {"parentId": parent_id, "name": name, **channel}
        )
        assert created.status == 201, created.data
        url = created.json()["uploadUrl"]
        chunk = self.request("POST", url, body=data, headers={"Authorization": ""})
        assert chunk.status == 201, chunk.data
        completion = {"fileKey": file_key} if file_key else {}
        return self.request("PUT", url, json_body=completion, headers={"Authorization": ""})


def token_for(server, login: str, password: str | None = None) -> str:
    with urllib3.PoolManager(retries=False) as http:  # closed: no idle connection stays
        response = http.request(
            "POST",
            server.base_url + "/oauth/token",
            fields={
                "grant_type": "password",
                "username": login,
                "password": password or login_password(login),
            },
            encode_multipart=False,
            headers={"Authorization": CLIENT_BASIC},
        )
    assert response.status == 200, response.data
    return response.json()["access_token"]


def one_shot_request(method: str, url: str, **kw) -> urllib3.BaseHTTPResponse:
    """One request on a connection closed right after (``urllib3.request`` would keep it in
    urllib3's process-wide pool, and the emulator's handler thread waiting on it)."""
    with urllib3.PoolManager(retries=False) as http:
        return http.request(method, url, **kw)


@pytest.fixture
def api(emulator):
    """``api("service")`` -> an Api logged in as that default-seed user."""
    cache: dict[str, Api] = {}

    def login(user: str = "service") -> Api:
        if user not in cache:
            cache[user] = Api(emulator, token_for(emulator, user))
        return cache[user]

    return login


FAKE_FILE_KEY = {
    "version": "RSA-4096/AES-256-GCM",
    "key": base64.b64encode(b"k" * 512).decode(),
    "iv": base64.b64encode(b"i" * 12).decode(),
    "tag": base64.b64encode(b"t" * 16).decode(),
}
