"""Large, slow and malformed DRACOON answers over real HTTP (tests/support/hostile_server.py):
each one is a clear, retryable error naming the endpoint - never a traceback, never a
permanent failure, never a call that outlives its deadline."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from urllib3.util.retry import Retry

from recording_storage.dracoon.client import (
    DracoonAnswerError,
    DracoonApiError,
    DracoonDeadlineError,
)
from recording_storage.dracoon.client.transport import ServerLocation, Transport
from recording_storage.jobs.transfer import is_retryable
from tests.support.hostile_server import (
    HostileServer,
    Rule,
    deep_json,
    html,
    huge,
    json_answer,
    page_total,
    rewrite,
    stall,
)

pytestmark = pytest.mark.timeout(60)

FAST = Retry(total=2, connect=1, read=1, status=1, backoff_factor=0.01)


@pytest.fixture
def hostile():
    with HostileServer() as server:
        yield server


def transport(server: HostileServer, **kwargs) -> Transport:
    kwargs.setdefault("retry", FAST)
    return Transport(ServerLocation.from_base_url(server.url), **kwargs)


def answer_error(call) -> DracoonAnswerError:
    with pytest.raises(DracoonAnswerError) as info:
        call()
    assert is_retryable(info.value)
    return info.value


def test_a_trickling_answer_ends_at_the_call_deadline(hostile):
    hostile.add(Rule("/v4/slow", json_answer({"items": list(range(100))}), trickle=0.2))
    t = transport(hostile, timeout=30, call_deadline=1.0)  # each read alone would wait 30 s
    with pytest.raises(DracoonDeadlineError) as info:
        t.request_json("GET", "/v4/slow")
    assert "GET /v4/slow" in str(info.value) and "deadline of 1s" in str(info.value)
    assert is_retryable(info.value)
    assert hostile.count("/v4/slow") == 1  # not retried past the deadline


@pytest.mark.allow_leaks(
    threads=("process_request_thread",),
    reason="the hostile server's stall(20) keeps its handler thread asleep for 20 s after the "
    "client gave up; hostile_server's stop() does not wake it yet",
)
def test_a_server_that_never_answers_ends_at_the_call_deadline(hostile):
    hostile.add(Rule("/v4/stalled", stall(20)))
    t = transport(hostile, timeout=30, call_deadline=1.0)
    with pytest.raises(DracoonDeadlineError, match="GET /v4/stalled"):
        t.request_json("GET", "/v4/stalled")


def test_a_deadline_also_ends_a_trickling_chunk_upload(hostile):
    hostile.add(Rule("/v4/uploads/", json_answer({"id": list(range(50))}), trickle=0.2))
    t = transport(hostile, timeout=30, call_deadline=1.0)
    with pytest.raises(DracoonDeadlineError, match=r"POST /v4/uploads/\{token\}"):
        t.request("POST", "/v4/uploads/secret-token", body=b"x" * 1000)


def test_html_with_status_200(hostile):
    hostile.add(Rule("/v4/nodes/7", html()))
    error = answer_error(lambda: transport(hostile).request_json("GET", "/v4/nodes/7"))
    assert error.path == "/v4/nodes/{id}" and error.status == 200
    assert "HTML page" in str(error) and "nginx" not in str(error)


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json(hostile, depth):
    hostile.add(Rule("/v4/deep", deep_json(depth)))
    error = answer_error(lambda: transport(hostile).request_json("GET", "/v4/deep"))
    assert "nested deeper than 32" in str(error) and "GET /v4/deep" in str(error)


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "chunked"])
def test_an_answer_larger_than_the_cap_is_refused(hostile, declare):
    hostile.add(Rule("/v4/huge", huge(3 * 1024 * 1024, declare=declare)))
    t = transport(hostile, max_answer_bytes=1024 * 1024)
    error = answer_error(lambda: t.request_json("GET", "/v4/huge"))
    assert "more than the cap of 1048576 bytes" in str(error)
    # The refused connection is not reused: the next call on the transport still works.
    hostile.add(Rule("/v4/ok", json_answer({"ok": True})))
    assert t.request_json("GET", "/v4/ok") == {"ok": True}


def test_a_huge_error_body_still_gives_the_status(hostile):
    def huge_error(upstream, query):
        reply = huge(3 * 1024 * 1024, declare=False)(upstream, query)
        reply.status = 409
        return reply

    hostile.add(Rule("/v4/conflict", huge_error))
    with pytest.raises(DracoonApiError) as info:
        transport(hostile, max_answer_bytes=1024 * 1024).request("POST", "/v4/conflict")
    assert info.value.status == 409


# -- through the client, against the emulator behind the hostile proxy -----------------------


@pytest.fixture
def proxy(emulator):
    with HostileServer(emulator.base_url) as server:
        yield server


@pytest.fixture
def client(proxy, make_client):
    return make_client(SimpleNamespace(base_url=proxy.url), retry=FAST)


def recordings_id(client) -> int:
    return client.resolve_room_path(0, "Recordings", create=False).id


def test_oauth_token_answered_with_html_is_retryable_not_a_login_failure(proxy, client):
    proxy.add(Rule("^/oauth/token$", html(), count=1))
    error = answer_error(client.login)
    assert "/oauth/token" in str(error)
    client.login()  # the next attempt works


def test_a_node_of_the_wrong_shape(proxy, client):
    room = recordings_id(client)
    proxy.add(Rule(r"^/api/v4/nodes/\d+$", json_answer({"id": "seven", "type": "room"})))
    error = answer_error(lambda: client.get_node(room))
    assert "GET /v4/nodes/{id}" in str(error) and "'id'" in str(error)


def test_listing_with_a_lying_total_makes_one_request(proxy, client):
    room = recordings_id(client)
    before = proxy.count("^/api/v4/nodes$")
    proxy.add(Rule("^/api/v4/nodes$", rewrite(page_total(1_000_000_000))))
    error = answer_error(lambda: list(client.list_children(room)))
    assert "GET /v4/nodes" in str(error) and "1000000000" in str(error)
    assert proxy.count("^/api/v4/nodes$") == before + 1


def test_listing_that_repeats_its_first_page(proxy, client, emulator):
    room = recordings_id(client)
    for name in ("a", "b", "c"):
        client.resolve_room_path(room, name)
    first: list = []

    def same_page(answer, query):
        """Every page is the first one again, and the total promises more."""
        first.extend([] if first else answer["items"][:1])
        return {"items": first, "range": {"offset": 0, "limit": 1, "total": 10}}

    before = proxy.count("^/api/v4/nodes$")
    proxy.add(Rule("^/api/v4/nodes$", rewrite(same_page)))
    from recording_storage.dracoon.client import nodes

    limit = nodes.PAGE_LIMIT
    nodes.PAGE_LIMIT = 1
    try:
        error = answer_error(lambda: list(client.list_children(room)))
    finally:
        nodes.PAGE_LIMIT = limit
    assert "repeats the previous page" in str(error)
    assert proxy.count("^/api/v4/nodes$") == before + 2


def test_missing_file_keys_of_the_wrong_shape(proxy, client):
    proxy.add(Rule("missingFileKeys$", json_answer({"items": [{"userId": "x", "fileId": 1}]})))
    error = answer_error(client.distribute_missing_keys)
    assert "GET /v4/nodes/missingFileKeys" in str(error) and "userId" in str(error)
    proxy.clear()
    proxy.add(Rule("missingFileKeys$", json_answer(
        {"items": [{"userId": 1, "fileId": 2}], "users": {"id": 1}, "files": []})))  # fmt: skip
    error = answer_error(client.distribute_missing_keys)
    assert "'users'" in str(error)


def test_missing_file_keys_answering_more_than_asked(proxy, client):
    pairs = [{"userId": 1, "fileId": n} for n in range(101)]
    proxy.add(Rule("missingFileKeys$", json_answer({"items": pairs, "users": [], "files": []})))
    error = answer_error(client.distribute_missing_keys)
    assert "101 items answer a request for at most 100" in str(error)
