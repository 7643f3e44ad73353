"""DRACOON Commander (``dccmd`` 0.5.0, DRACOON's own CLI, in its own venv), unchanged, against
the emulator: client registration, upload, listing and download, in an encrypted and a plain
room, in classic and S3-direct mode.

dccmd only speaks https (it builds ``https://host:port`` from every path), so it reaches the
emulator through a TLS-terminating relay with a self-signed certificate made at test time
and trusted through ``SSL_CERT_FILE``; the emulator hands out https URLs (``url_scheme``).
It asks for the OAuth client on stdin (``client register``) and whether to store the refresh
token (answered "n"); with ``--cli-mode`` its config lives in a file under ``$HOME`` (a
temporary one here), never in a keyring.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from tests.emulator.conftest import one_shot_request
from tests.support.emulator_fixtures import default_seed, encryption_password, login_password
from tests.support.official_sdk import dccmd_python
from tests.support.tls_proxy import TlsRelay, make_self_signed_cert

pytestmark = [pytest.mark.official_sdk, pytest.mark.slow]

DCCMD_CLIENT = {"client_id": "dccmd-test", "client_secret": "dccmd-test-secret"}


@pytest.fixture
def https_emulator(emulator_factory, test_key_pairs, tmp_path, request):
    """(emulator, relay, environment for dccmd) for the mode in ``request.param``."""
    seed = default_seed(test_key_pairs, s3_direct=request.param) | {
        "url_scheme": "https",
        "oauth_clients": [
            {"client_id": "dracoon_legacy_scripting", "client_secret": ""},
            DCCMD_CLIENT,
        ],
    }
    server = emulator_factory(seed)
    python = dccmd_python()
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key = make_self_signed_cert(python, certs)
    relay = TlsRelay(("127.0.0.1", server.port), cert, key).start()
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": f"{python.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "SSL_CERT_FILE": str(cert),
        "LANG": "C.UTF-8",
    }
    yield server, relay, env
    relay.stop()


def _dccmd(env, cwd, *args: str, answers: str = "n\nn\nn\n", timeout: float = 180):
    result = subprocess.run(
        [str(dccmd_python().parent / "dccmd"), *args],
        input=answers,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"dccmd {args[0]}: {result.stdout[-2000:]} {result.stderr[-3000:]}"
    )
    return result.stdout


def _nodes(server) -> dict[str, dict]:
    response = one_shot_request("GET", f"{server.base_url}/emulator/nodes")
    assert response.status == 200
    return {n["path"]: n for n in response.json()}


def _users(server) -> dict[str, int]:
    response = one_shot_request("GET", f"{server.base_url}/emulator/users")
    return {u["login"]: u["id"] for u in response.json()}


@pytest.mark.parametrize("https_emulator", [False, True], ids=["classic", "s3"], indirect=True)
def test_dccmd_uploads_lists_and_downloads(https_emulator, tmp_path):
    server, relay, env = https_emulator
    work = tmp_path / "work"
    work.mkdir()
    host = relay.host_port
    login = ["service", login_password("service")]
    _dccmd(
        env,
        work,
        "client",
        "register",
        host,
        "--cli-mode",
        answers=f"{DCCMD_CLIENT['client_id']}\n{DCCMD_CLIENT['client_secret']}\n",
    )
    files = {}
    for room, size in (("Plain", 300_001), ("Recordings", 6 * 1024 * 1024 + 11)):
        data = os.urandom(size)
        source = work / f"{room.lower()}-talk.bin"
        source.write_bytes(data)
        files[room] = (source.name, data)
        extra = [encryption_password("service")] if room == "Recordings" else []
        _dccmd(env, work, "upload", str(source), f"{host}/{room}", "--cli-mode", *login, *extra)
    listings = {
        room: _dccmd(env, work, "ls", f"{host}/{room}", "--cli-mode", *login) for room in files
    }
    for room, (name, data) in files.items():
        assert name in listings[room], listings[room]
        target = tmp_path / f"download-{room}"
        target.mkdir()
        extra = [encryption_password("service")] if room == "Recordings" else []
        _dccmd(
            env,
            work,
            "download",
            f"{host}/{room}/{name}",
            str(target),
            "--cli-mode",
            *login,
            *extra,
        )
        assert (target / name).read_bytes() == data, f"{room}: dccmd downloaded other bytes"
    # Final state on the server: both files with their sizes; the plain one byte-identical,
    # the encrypted one with a file key for every reader (dccmd distributes missing keys).
    nodes = _nodes(server)
    plain_name, plain_data = files["Plain"]
    plain = nodes[f"/Plain/{plain_name}"]
    assert plain["size"] == len(plain_data) and not plain["isEncrypted"]
    if plain["sha256"]:
        assert plain["sha256"] == hashlib.sha256(plain_data).hexdigest()
    secret_name, secret_data = files["Recordings"]
    secret = nodes[f"/Recordings/{secret_name}"]
    assert secret["size"] == len(secret_data) and secret["isEncrypted"]
    assert set(secret["fileKeyUserIds"]) == set(_users(server).values())
