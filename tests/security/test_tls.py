"""TLS: certificates are always verified for https endpoints (DRACOON client, HTTP
configurator, boto3), plain http is used only where the configuration says ``http://``, and the
configurator never follows a redirect or a ``next`` link to another origin.

A self-signed certificate for 127.0.0.1 is made with the ``openssl`` CLI (the project does not
depend on ``cryptography``); without ``openssl`` the handshake tests are skipped."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import shutil
import ssl
import subprocess
import threading
from pathlib import Path

import botocore.exceptions
import pytest
import urllib3

from recording_storage.aws.session import make_s3_client
from recording_storage.config import load_settings
from recording_storage.configurator.base import ConfiguratorUnavailableError
from recording_storage.configurator.http import HttpConfigurator
from recording_storage.dracoon.client import DracoonClient, DracoonError
from tests.support.paths import PROJECT_ROOT

# One xdist worker runs this module's tests (scripts/test.sh: --dist loadgroup):
# one self-signed certificate for the whole module.
pytestmark = pytest.mark.xdist_group("tls")

NO_RETRY = urllib3.Retry(total=0, connect=0, read=0, status=0, redirect=0)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers every request from ``server.answers`` (path prefix -> (status, headers, body))."""

    def do_GET(self):
        self.server.seen.append(self.path)
        matching = (a for p, a in self.server.answers.items() if self.path.startswith(p))
        status, headers, body = next(matching, (200, {}, {}))
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_HEAD = do_GET

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(context: ssl.SSLContext | None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen, server.answers = [], {}
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield server, f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> tuple[Path, ssl.SSLContext]:
    """(certificate path, server SSL context) of a self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is not installed: cannot make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture
def https_server(self_signed):
    cert, context = self_signed
    with serve(context) as (server, url):
        server.cert = cert
        yield server, url


def test_the_test_server_works_when_its_certificate_is_trusted(https_server):
    server, url = https_server
    pool = urllib3.PoolManager(ca_certs=str(server.cert), cert_reqs="CERT_REQUIRED")
    assert pool.request("GET", url + "/ping").status == 200
    assert server.seen == ["/ping"]


def test_dracoon_client_refuses_an_untrusted_certificate(https_server):
    server, url = https_server
    client = DracoonClient(url + "/api/v4", "service", "pw-never-sent", retry=NO_RETRY)
    try:
        with pytest.raises(DracoonError, match=r"SSLError|certificate"):
            _ = client.capabilities
    finally:
        client.close()
    assert server.seen == []  # the handshake failed: no request, no password was sent


def test_http_configurator_refuses_an_untrusted_certificate(https_server):
    server, url = https_server
    configurator = HttpConfigurator(url, token="token-never-sent", retries=0)
    with pytest.raises(ConfiguratorUnavailableError, match="SSLError"):
        configurator.get_instance("x.example")
    assert server.seen == []


def test_boto3_refuses_an_untrusted_certificate(https_server, monkeypatch):
    server, url = https_server
    for name, value in {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
                        "AWS_CONFIG_FILE": "/dev/null",
                        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    settings = load_settings(None, env={"RS_S3_ENDPOINTURL": url})
    s3 = make_s3_client(settings)
    # botocore's default: verify against a CA bundle (a path) or the system store (True).
    assert s3._endpoint.http_session._verify not in (False, None)
    with pytest.raises(botocore.exceptions.SSLError):
        s3.head_object(Bucket="bucket", Key="key")
    assert server.seen == []


def test_configurator_never_follows_a_redirect_or_a_foreign_next_link(https_server):
    server, url = https_server
    trusted = urllib3.PoolManager(ca_certs=str(server.cert), cert_reqs="CERT_REQUIRED")
    with serve(None) as (plain, plain_url):
        server.answers = {
            "/instances/moved.example": (302, {"Location": plain_url + "/instances/x"}, {}),
            "/instances?storage": (200, {}, {"instances": {}, "next": plain_url + "/page2"}),
        }
        configurator = HttpConfigurator(url, token="tok", retries=0, pool=trusted)
        with pytest.raises(ConfiguratorUnavailableError, match="unexpected HTTP 302"):
            configurator.get_instance("moved.example")
        with pytest.raises(ConfiguratorUnavailableError, match="not on"):
            configurator.list_dracoon_instances()
        assert plain.seen == []  # neither the redirect nor the next link was followed
    server.answers = {"/instances?storage": (200, {}, {"instances": {}, "next": "/page2"})}
    server.answers["/page2"] = (200, {}, {"instances": {}, "next": None})
    assert HttpConfigurator(url, retries=0, pool=trusted).list_dracoon_instances() == []
    assert server.seen[-1] == "/page2"  # a relative next link on the same origin is followed


def test_plain_http_only_where_the_configuration_says_http():
    from recording_storage.dracoon.client.transport import ServerLocation

    location = ServerLocation.from_base_url("https://dracoon.example/api/v4")
    assert location.oauth_token.startswith("https://") and location.api.startswith("https://")
    assert load_settings(None, env={}).dracoon.base_url.startswith("https://")
    settings = load_settings(None, env={})
    assert settings.aws.s3_endpoint_url is None  # AWS itself: botocore uses https
    assert settings.aws.sqs_endpoint_url is None


# Anything that can turn certificate verification off, in any project module.
_DISABLING = re.compile(
    r"CERT_NONE|verify\s*=\s*False|check_hostname\s*=\s*False|_create_unverified_context"
    r"|assert_hostname\s*=\s*False|disable_warnings|cert_reqs\s*=\s*['\"](?!CERT_REQUIRED)"
)


def test_no_project_code_disables_certificate_verification():
    offenders = []
    for path in (PROJECT_ROOT / "recording_storage").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if _DISABLING.search(line):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_pools_require_certificates():
    from recording_storage.dracoon.client.transport import ServerLocation, Transport

    transport = Transport(ServerLocation.from_base_url("https://dracoon.example"))
    configurator = HttpConfigurator("https://configurator.example")
    for pool in (transport._pool, configurator._pool):
        assert pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    transport.close()
