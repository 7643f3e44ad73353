"""Transport and OAuth against a scripted HTTP server (pytest-httpserver): retries, backoff,
error parsing, secret masking, token refresh before expiry and after a 401."""

import base64
import json
import threading
import time

import pytest
from urllib3.util.retry import Retry
from werkzeug import Response

from recording_storage.dracoon.client import (
    DracoonApiError,
    DracoonAuthError,
    DracoonConnectionError,
)
from recording_storage.dracoon.client.auth import AuthorizedApi, OAuthSession
from recording_storage.dracoon.client.transport import (
    RetryKind,
    ServerLocation,
    Transport,
    endpoint_label,
)

FAST_RETRY = Retry(total=4, connect=2, read=2, status=3, backoff_factor=0.01)


class Events:
    def __init__(self):
        self.responses = []
        self.retries = []

    def on_response(self, method, endpoint, status, seconds):
        self.responses.append((method, endpoint, status))

    def on_retry(self, method, endpoint, reason):
        self.retries.append((method, endpoint, reason))


@pytest.fixture
def events():
    return Events()


@pytest.fixture
def transport(httpserver, events):
    t = Transport(
        ServerLocation.from_base_url(httpserver.url_for("/")),
        timeout=5,
        retry=FAST_RETRY,
        events=events,
    )
    yield t
    t.close()


@pytest.mark.parametrize(
    "base",
    [
        "https://dracoon.example",
        "https://dracoon.example/",
        "https://dracoon.example/api",
        "https://dracoon.example/api/v4",
        "https://dracoon.example/api/v4/",
    ],
)
def test_base_url_forms(base):
    loc = ServerLocation.from_base_url(base)
    assert loc.api == "https://dracoon.example/api"
    assert loc.oauth_token == "https://dracoon.example/oauth/token"


def test_bad_base_url():
    with pytest.raises(ValueError):
        ServerLocation.from_base_url("dracoon.example")


def test_endpoint_labels_mask_tokens_ids_and_queries():
    api = "https://h/api"
    assert endpoint_label("https://h/api/v4/nodes/123/parents", api) == "/v4/nodes/{id}/parents"
    assert endpoint_label("https://h/api/v4/uploads/SeCrEt123", api) == "/v4/uploads/{token}"
    # S3 upload ids are random strings: one metrics label per upload unless templated
    for tail in ("", "/s3", "/s3_urls"):
        url = f"https://h/api/v4/nodes/files/uploads/cEkzPTH6jD-0Ox2B{tail}"
        assert endpoint_label(url, api) == f"/v4/nodes/files/uploads/{{id}}{tail}"
    assert endpoint_label("https://h/api/v4/nodes/files/uploads", api) == "/v4/nodes/files/uploads"
    assert endpoint_label("https://h/api/v4/nodes?filter=x", api) == "/v4/nodes"
    assert endpoint_label("https://s3/bucket/key?X-Amz-Signature=abc", api) == "<presigned url>"


def test_503_with_retry_after_is_retried(httpserver, transport, events):
    httpserver.expect_ordered_request("/api/v4/x").respond_with_response(
        Response("", status=503, headers={"Retry-After": "0"})
    )
    httpserver.expect_ordered_request("/api/v4/x").respond_with_json({"ok": 1})
    assert transport.request_json("GET", "/v4/x") == {"ok": 1}
    assert events.retries == [("GET", "/v4/x", "HTTP 503")]
    assert events.responses[-1] == ("GET", "/v4/x", 200)


def test_429_on_a_send_once_call_is_retried(httpserver, transport):
    httpserver.expect_ordered_request("/api/v4/c", method="POST").respond_with_response(
        Response("", status=429, headers={"Retry-After": "0"})
    )
    httpserver.expect_ordered_request("/api/v4/c", method="POST").respond_with_json(
        {"id": 1}, status=201
    )
    assert transport.request_json("POST", "/v4/c", json_body={}, kind=RetryKind.SEND_ONCE) == {
        "id": 1
    }


def test_500_retried_for_reads_only(httpserver, transport):
    httpserver.expect_ordered_request("/api/v4/r").respond_with_json({}, status=500)
    httpserver.expect_ordered_request("/api/v4/r").respond_with_json({"ok": True})
    assert transport.request_json("GET", "/v4/r") == {"ok": True}
    httpserver.expect_request("/api/v4/w", method="PUT").respond_with_json(
        {"code": 500, "message": "boom", "errorCode": -1}, status=500
    )
    with pytest.raises(DracoonApiError) as info:
        transport.request("PUT", "/v4/w", json_body={}, kind=RetryKind.REPEATABLE)
    assert info.value.status == 500
    assert len([r for r, _ in httpserver.log if r.path == "/api/v4/w"]) == 1


def test_retries_give_up_with_the_last_status(httpserver, transport):
    httpserver.expect_request("/api/v4/busy").respond_with_json({"code": 503}, status=503)
    with pytest.raises(DracoonApiError) as info:
        transport.request("GET", "/v4/busy")
    assert info.value.status == 503
    assert len(httpserver.log) == 4  # first try + status=3 retries


def test_error_bodies_are_parsed(httpserver, transport):
    httpserver.expect_request("/api/v4/nodes/42").respond_with_json(
        {"code": 404, "message": "Node not found", "errorCode": -41000}, status=404
    )
    with pytest.raises(DracoonApiError) as info:
        transport.request("GET", "/v4/nodes/42")
    error = info.value
    assert (error.status, error.error_code, error.method, error.path) == (
        404,
        -41000,
        "GET",
        "/v4/nodes/{id}",
    )
    assert "GET /v4/nodes/{id} failed with HTTP 404 (DRACOON errorCode -41000)" in str(error)
    httpserver.expect_request("/api/v4/empty").respond_with_data("", status=412)
    with pytest.raises(DracoonApiError) as info:
        transport.request("GET", "/v4/empty")
    assert info.value.status == 412 and info.value.error_code is None


def test_connection_refused_becomes_connection_error():
    t = Transport(
        ServerLocation.from_base_url("http://127.0.0.1:9"),
        timeout=1,
        retry=Retry(total=1, backoff_factor=0),
    )
    with pytest.raises(DracoonConnectionError) as info:
        t.request("GET", "/v4/x")
    assert "GET /v4/x" in str(info.value)


def _token_answer(token, refresh="r1", expires_in=3600):
    return {
        "access_token": token,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": expires_in,
        "scope": "all",
    }


def test_password_grant_uses_basic_client_auth(httpserver, transport):
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(_token_answer("t1"))
    session = OAuthSession(transport, "svc", "pw-secret", client_id="cid", client_secret="cs")
    assert session.access_token() == "t1"
    request, _ = httpserver.log[0]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:cs").decode()
    assert request.form["grant_type"] == "password"
    assert request.form["username"] == "svc"
    assert "pw-secret" not in repr(session)


def test_refresh_before_expiry(httpserver, transport):
    now = [1000.0]
    httpserver.expect_ordered_request("/oauth/token").respond_with_json(
        _token_answer("t1", expires_in=100)
    )
    httpserver.expect_ordered_request("/oauth/token").respond_with_json(
        _token_answer("t2", refresh="r2", expires_in=100)
    )
    session = OAuthSession(transport, "svc", "pw", clock=lambda: now[0])
    assert session.access_token() == "t1"
    now[0] += 85  # within 10 % of the lifetime: still fine
    assert session.access_token() == "t1"
    now[0] += 6  # 91 s: inside the refresh margin
    assert session.access_token() == "t2"
    assert httpserver.log[1][0].form["grant_type"] == "refresh_token"
    assert httpserver.log[1][0].form["refresh_token"] == "r1"
    assert (session.logins, session.refreshes) == (1, 1)


def test_refused_refresh_falls_back_to_password_login(httpserver, transport):
    now = [0.0]
    httpserver.expect_ordered_request("/oauth/token").respond_with_json(
        _token_answer("t1", expires_in=10)
    )
    httpserver.expect_ordered_request("/oauth/token").respond_with_json(
        {"error": "invalid_grant"}, status=400
    )
    httpserver.expect_ordered_request("/oauth/token").respond_with_json(_token_answer("t3"))
    session = OAuthSession(transport, "svc", "pw", clock=lambda: now[0])
    session.access_token()
    now[0] = 100
    assert session.access_token() == "t3"
    assert session.logins == 2


def test_401_renews_the_token_and_repeats_once(httpserver, transport):
    httpserver.expect_ordered_request("/oauth/token").respond_with_json(_token_answer("old"))
    httpserver.expect_ordered_request("/api/v4/user/account").respond_with_json({}, status=401)
    httpserver.expect_ordered_request("/oauth/token").respond_with_json(_token_answer("new"))
    httpserver.expect_ordered_request("/api/v4/user/account").respond_with_json({"id": 7})
    api = AuthorizedApi(transport, OAuthSession(transport, "svc", "pw"))
    assert api.call("GET", "/v4/user/account") == {"id": 7}
    assert httpserver.log[1][0].headers["Authorization"] == "Bearer old"
    assert httpserver.log[3][0].headers["Authorization"] == "Bearer new"


def test_wrong_password_is_an_auth_error_without_secrets(httpserver, transport):
    httpserver.expect_request("/oauth/token").respond_with_json(
        {"error": "invalid_grant", "error_description": "Bad credentials"}, status=400
    )
    session = OAuthSession(transport, "svc", "hunter2-secret")
    with pytest.raises(DracoonAuthError) as info:
        session.access_token()
    text = str(info.value)
    assert "login of DRACOON user 'svc'" in text and "Bad credentials" in text
    assert "hunter2" not in text


def test_many_threads_share_one_login(httpserver, transport):
    httpserver.expect_request("/oauth/token").respond_with_json(_token_answer("shared"))
    session = OAuthSession(transport, "svc", "pw")
    tokens = []
    threads = [
        threading.Thread(target=lambda: tokens.append(session.access_token())) for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tokens == ["shared"] * 16
    assert session.logins == 1


def test_revoke_sends_both_tokens(httpserver, transport):
    httpserver.expect_request("/oauth/token").respond_with_json(_token_answer("a", refresh="b"))
    httpserver.expect_request("/oauth/revoke").respond_with_data("")
    session = OAuthSession(transport, "svc", "pw")
    session.access_token()
    session.revoke()
    revoked = [json.dumps(dict(r.form)) for r, _ in httpserver.log if r.path == "/oauth/revoke"]
    assert len(revoked) == 2


def test_429_waits_for_retry_after_not_the_backoff(httpserver, transport, monkeypatch):
    import time
    import types

    import urllib3.util.retry as retry_module

    slept = []
    fake_time = types.SimpleNamespace(sleep=slept.append, time=time.time)
    monkeypatch.setattr(retry_module, "time", fake_time)
    httpserver.expect_ordered_request("/api/v4/slow").respond_with_response(
        Response("", status=429, headers={"Retry-After": "7"})
    )
    httpserver.expect_ordered_request("/api/v4/slow").respond_with_response(
        Response("", status=502)
    )
    httpserver.expect_ordered_request("/api/v4/slow").respond_with_json({"ok": 1})
    assert transport.request_json("GET", "/v4/slow") == {"ok": 1}
    assert slept[0] == 7  # Retry-After, not the 0.01 s backoff
    assert 0 < slept[1] < 1  # no Retry-After: exponential backoff (second error: 2 x 0.01 s)


def test_backoff_grows_exponentially_with_bounded_jitter():
    from recording_storage.dracoon.client.transport import ObservedRetry

    retry = ObservedRetry(total=10, backoff_factor=0.5, backoff_jitter=0.5, backoff_max=20)
    waits = []
    for _ in range(7):
        retry = retry.increment("GET", "/x", error=ConnectionResetError())
        waits.append(retry.get_backoff_time())
    for errors, wait in enumerate(waits, start=1):
        base = min(20.0, 0.5 * 2 ** (errors - 1))
        assert base <= wait <= min(20.0, base + 0.5), (errors, wait)
    assert waits[-1] == 20.0  # capped


def test_a_send_once_call_is_not_retried_on_502_or_after_the_request_went_out(
    httpserver, transport
):
    """502/504 or a lost answer may mean the server created it: no blind repeat."""
    httpserver.expect_request("/api/v4/make", method="POST").respond_with_json({}, status=502)
    with pytest.raises(DracoonApiError) as info:
        transport.request("POST", "/v4/make", json_body={}, kind=RetryKind.SEND_ONCE)
    assert info.value.status == 502
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_send_once_is_not_retried_on_5xx_even_with_retry_after(httpserver, transport, status):
    """urllib3 alone would repeat a 503 carrying Retry-After; a gateway may send that after
    it forwarded the chunk and lost DRACOON's answer."""
    httpserver.expect_request("/api/v4/chunk", method="POST").respond_with_response(
        Response("", status=status, headers={"Retry-After": "0"})
    )
    with pytest.raises(DracoonApiError) as info:
        transport.request("POST", "/v4/chunk", body=b"chunk", kind=RetryKind.SEND_ONCE)
    assert info.value.status == status
    assert len(httpserver.log) == 1


def test_send_once_is_not_resent_after_a_read_timeout(httpserver, events):
    """No answer in time: the server may be storing the chunk right now. A READ is retried."""
    t = Transport(
        ServerLocation.from_base_url(httpserver.url_for("/")),
        timeout=0.3,
        retry=FAST_RETRY,
        events=events,
    )

    def slow(request):
        time.sleep(0.6)
        return Response("{}", status=201, content_type="application/json")

    httpserver.expect_request("/api/v4/chunk").respond_with_handler(slow)
    try:
        with pytest.raises(DracoonConnectionError) as info:
            t.request("POST", "/v4/chunk", body=b"chunk", kind=RetryKind.SEND_ONCE)
        assert "POST /v4/chunk" in str(info.value)
        time.sleep(0.8)  # let the server finish the one request it got
        assert len(httpserver.log) == 1 and events.retries == []
        with pytest.raises(DracoonConnectionError):
            t.request("GET", "/v4/chunk")
        assert [r for r in events.retries if r[0] == "GET"]  # a READ is retried
    finally:
        t.close()
