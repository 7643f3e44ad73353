"""Helpers for the client's integration tests against the DRACOON emulator."""

from __future__ import annotations

import json
import urllib.request

import pytest
from urllib3.util.retry import Retry

from recording_storage.dracoon.client import DracoonClient, UploadOptions
from tests.support.emulator_fixtures import default_seed, login_password

# Fast retries keep fault tests short; the counts match the default budget.
FAST_RETRY = Retry(total=6, connect=4, read=3, status=5, backoff_factor=0.05, backoff_jitter=0.05)


def admin(server, method: str, path: str, body=None):
    """Call the emulator's admin API (no auth) and return the decoded JSON (or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.base_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


def nodes(server) -> list[dict]:
    return admin(server, "GET", "/emulator/nodes")


def node_id(server, path: str) -> int:
    """Id of the node at ``path`` ("Recordings/sub") in the emulator."""
    for node in nodes(server):
        if node["path"].strip("/") == path.strip("/"):
            return node["id"]
    raise KeyError(path)


class Events:
    def __init__(self):
        self.responses: list[tuple] = []
        self.retries: list[tuple] = []

    def on_response(self, method, endpoint, status, seconds):
        self.responses.append((method, endpoint, status))

    def on_retry(self, method, endpoint, reason):
        self.retries.append((method, endpoint, reason))


@pytest.fixture
def make_client(test_key_pairs):
    """``make_client(server, login="service", **kw)`` -> a DracoonClient closed at teardown."""
    created = []

    def make(server, login="service", password=None, **kw):
        kw.setdefault("encryption_password", test_key_pairs[login][1])
        kw.setdefault("retry", FAST_RETRY)
        kw.setdefault("upload_options", UploadOptions(s3_poll_initial=0.02, s3_poll_max=0.2))
        client = DracoonClient(server.base_url, login, password or login_password(login), **kw)
        created.append(client)
        return client

    yield make
    for client in created:
        client.close()


@pytest.fixture
def s3_emulator(emulator_factory, test_key_pairs):
    return emulator_factory(default_seed(test_key_pairs, s3_direct=True))
