"""Credentials never come back out: URL user-info, OAuth error descriptions, Authorization
headers and presigned URL query strings are redacted in exception text, log lines and the
CLI's output (``recording_storage.redact``, used by all of them).

Each path is fed real secrets over real HTTP or a real process, and every output is searched
for them."""

from __future__ import annotations

import base64
import json
import logging
import socket
import subprocess
import sys
from urllib.parse import quote_plus

import pytest
import urllib3
from werkzeug import Response

from recording_storage.dracoon.client import DracoonAuthError, DracoonClient, DracoonConnectionError
from recording_storage.dracoon.client.transport import ServerLocation
from recording_storage.logs import setup_logging
from recording_storage.redact import REDACTED, redact, strip_userinfo

PASSWORD = "Pw-7f3Kq!x9@zz"
CLIENT_SECRET = "cs-Q8w2Lm4Rt6"
URL_PASSWORD = "UrlPw-5Tg8Hj"
SIGNATURE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
CREDENTIAL = "AKIAEXAMPLE12345%2F20261207%2Feu-central-1%2Fs3%2Faws4_request"
SECURITY_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEtoken"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMifQ.c2lnbmF0dXJl"
PRESIGNED = (
    "https://bucket.s3.eu-central-1.amazonaws.com/rec/a.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={CREDENTIAL}&X-Amz-Security-Token={SECURITY_TOKEN}"
    f"&X-Amz-Signature={SIGNATURE}&X-Amz-Expires=60"
)
SECRETS = [PASSWORD, quote_plus(PASSWORD), CLIENT_SECRET, URL_PASSWORD, SIGNATURE, CREDENTIAL,
           SECURITY_TOKEN, BEARER]  # fmt: skip


def assert_clean(text: str) -> None:
    found = [secret for secret in SECRETS if secret in text]
    assert not found, (found, text)


# -- the helper itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"GET https://svc:{URL_PASSWORD}@dracoon.example/api/v4 failed", "dracoon.example/api/v4"),
        (f"PUT {PRESIGNED} failed", "X-Amz-Expires=60"),
        (f"{{'Authorization': 'Bearer {BEARER}', 'Accept': 'application/json'}}", "Accept"),
        (f"Authorization: Bearer {BEARER}\r\nHost: x", "Host: x"),
        (f"X-Sds-Auth-Token: {BEARER}", "X-Sds-Auth-Token"),
        (f"grant_type=password&username=svc&password={quote_plus(PASSWORD)}", "username=svc"),
        (f'{{"access_token": "{BEARER}", "expires_in": 3600}}', "expires_in"),
        (f"client_secret={CLIENT_SECRET}", "client_secret="),
        (f"password: {PASSWORD} (from instances.yaml)", "(from instances.yaml)"),
        (f"encryption_password: {PASSWORD}\nuser: svc", "user: svc"),
        ('{"password": "' + PASSWORD + '\\"' + CLIENT_SECRET + '", "user": "svc"}', '"user"'),
        ("{'secret': '" + CLIENT_SECRET + "\\'" + URL_PASSWORD + "', 'n': 1}", "'n': 1"),
    ],
)
def test_redact_removes_each_kind_of_credential(text, kept):
    out = redact(text)
    assert_clean(out)
    assert REDACTED in out and kept in out


def test_redact_keeps_what_an_operator_needs():
    text = (
        "job 7: s3://bucket/rec/a.mp4 -> room 'talks' failed: GET /v4/nodes failed with HTTP "
        "503; {'Code': 'PreconditionFailed'}; workers.FileTransferer.queue = recordings"
    )
    assert redact(text) == text


def test_known_secret_values_are_removed_wherever_they_appear():
    assert redact(f"wrong password {PASSWORD} for svc", [PASSWORD]) == (
        f"wrong password {REDACTED} for svc"
    )


def test_base_url_user_info_is_dropped_before_use():
    location = ServerLocation.from_base_url(f"https://svc:{URL_PASSWORD}@dracoon.example/api/v4")
    assert location.root == "https://dracoon.example"
    assert strip_userinfo(f"http://a:{URL_PASSWORD}@h:1/p?q=1") == "http://h:1/p?q=1"
    with pytest.raises(ValueError) as bad:
        ServerLocation.from_base_url(f"ftp://svc:{URL_PASSWORD}@dracoon.example")
    assert_clean(str(bad.value))


# -- over real HTTP ----------------------------------------------------------------------------


def test_oauth_error_description_that_repeats_the_credentials_is_redacted(httpserver):
    """An OAuth server whose error_description echoes the password, the client secret and
    the Basic header it received: none of it reaches the exception text."""

    def echo(request):
        description = (
            f"Bad credentials: password={request.form.get('password')} "
            f"(raw {request.get_data(as_text=True)}); "
            f"Authorization: {request.headers.get('Authorization')}; "
            f"client secret {CLIENT_SECRET}"
        )
        body = {"error": "invalid_grant", "error_description": description}
        return Response(json.dumps(body), status=400, content_type="application/json")

    httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(echo)
    client = DracoonClient(
        httpserver.url_for("/api/v4"), "svc", PASSWORD, client_secret=CLIENT_SECRET
    )
    with pytest.raises(DracoonAuthError) as failure:
        client.login()
    client.close()

    text = str(failure.value) + repr(failure.value) + str(failure.value.server_message)
    assert_clean(text)
    assert "Bad credentials" in text and "HTTP 400" in text  # still says what failed
    basic = base64.b64encode(f"dracoon_legacy_scripting:{CLIENT_SECRET}".encode()).decode()
    assert basic not in text


def test_connection_error_names_the_host_without_user_info():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = DracoonClient(f"http://svc:{URL_PASSWORD}@127.0.0.1:{port}/api/v4", "svc", PASSWORD,
                           retry=urllib3.Retry(0))  # fmt: skip
    with pytest.raises(DracoonConnectionError) as failure:
        client.login()
    client.close()
    assert_clean(str(failure.value))
    assert f"127.0.0.1:{port}" in str(failure.value)


# -- log lines --------------------------------------------------------------------------------


@pytest.fixture
def service_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_lines_and_tracebacks_are_redacted(service_logging, capsys, fmt):
    setup_logging("DEBUG", fmt)
    log = logging.getLogger("recording_storage.test")
    log.warning("request to %s failed", PRESIGNED, extra={"url": PRESIGNED})
    try:
        raise RuntimeError(f"headers {{'Authorization': 'Bearer {BEARER}'}} to "
                           f"https://svc:{URL_PASSWORD}@dracoon.example")  # fmt: skip
    except RuntimeError:
        log.exception("unexpected")
    err = capsys.readouterr().err
    assert_clean(err)
    assert "request to https://bucket.s3" in err and "RuntimeError" in err


# -- the CLI, as a process ---------------------------------------------------------------------


def _config_check(tmp_path, conf: str, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "app.conf"
    path.write_text(conf)
    return subprocess.run(
        [sys.executable, "-m", "recording_storage.cli", "--config", str(path), "config", "check",
         *extra],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip


@pytest.mark.parametrize("extra", [(), ("--json", "--origins")])
def test_config_check_never_prints_url_credentials(tmp_path, extra):
    done = _config_check(
        tmp_path,
        f"dracoon.baseUrl = https://svc:{URL_PASSWORD}@dracoon.example/api/v4\n"
        f"configurator.url = https://cfg:{PASSWORD}@configurator.example\n"
        f"s3.endpointUrl = http://ak:{CLIENT_SECRET}@127.0.0.1:9000\n"
        f"dracoon.clientSecret = {CLIENT_SECRET}\n",
        *extra,
    )
    assert done.returncode == 0, done.stderr
    assert_clean(done.stdout + done.stderr)
    assert "https://dracoon.example/api/v4" in done.stdout
    assert "user:password@ part of the URL is never sent" in done.stderr


def test_config_check_errors_never_print_url_credentials(tmp_path):
    done = _config_check(tmp_path, f"aws.endpointUrl = https://svc:{URL_PASSWORD}@/\n")
    assert done.returncode == 78
    assert_clean(done.stdout + done.stderr)
    assert "aws.endpointUrl" in done.stderr
