"""``--state`` keeps state and content across restarts; the ``dracoon-emulator`` program."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import yaml
from dracoon_emulator import EmulatorServer
from dracoon_emulator.persistence import SnapshotWriter

from tests.emulator.conftest import Api, token_for
from tests.support.emulator_fixtures import default_seed


def test_state_dir_survives_a_restart(tmp_path, test_key_pairs):
    seed = default_seed(test_key_pairs)
    with EmulatorServer(seed, state_dir=tmp_path) as first:
        client = Api(first, token_for(first, "service"))
        node = client.upload(client.node_id("/Plain"), "kept.bin", b"persist me").json()
    assert (tmp_path / "state.json").exists()
    with EmulatorServer(seed, state_dir=tmp_path) as second:
        client.server = second  # same token: sessions survive too
        again = client.get(f"/nodes/{node['id']}")
        assert again.status == 200 and again.json()["name"] == "kept.bin"
        url = client.post(f"/nodes/files/{node['id']}/downloads").json()["downloadUrl"]
        assert client.get(url).data == b"persist me"
        newer = client.upload(client.node_id("/Plain"), "new.bin", b"x").json()
        assert newer["id"] > node["id"]
        assert client.admin("POST", "/reset").status == 204
        assert client.get(f"/nodes/{node['id']}").status == 401


def test_a_change_reaches_state_json_while_the_emulator_runs(tmp_path, test_key_pairs):
    with EmulatorServer(default_seed(test_key_pairs), state_dir=tmp_path) as server:
        client = Api(server, token_for(server, "service"))
        node = client.upload(client.node_id("/Plain"), "soon.bin", b"on disk soon").json()
        deadline = time.monotonic() + 10
        names: list[str] = []
        while time.monotonic() < deadline and "soon.bin" not in names:
            time.sleep(0.05)
            saved = json.loads((tmp_path / "state.json").read_text())
            names = [n["name"] for n in saved["nodes"]]
        assert "soon.bin" in names, "the background writer did not write the change"
        assert node["id"] in [n["id"] for n in saved["nodes"]]


def test_the_writer_coalesces_changes_and_close_writes_the_last_one():
    writes: list[int] = []
    version = [0]
    wrote = threading.Event()

    def save():
        writes.append(version[0])
        wrote.set()

    writer = SnapshotWriter(save, interval=0.2)
    for number in range(1, 201):  # a burst of changes within one interval
        version[0] = number
        writer.changed()
    assert wrote.wait(5)
    version[0] = 201
    writer.changed()
    writer.close()  # the thread stops, and the last change is written
    assert writes[-1] == 201
    assert len(writes) <= 3, writes  # one per interval, plus the one close() writes
    assert not any(t.name == "dracoon-emulator-state-writer" for t in threading.enumerate())
    version[0] = 202
    writer.changed()  # after close: written at once, by the caller
    assert writes[-1] == 202


def test_the_writer_pauses_longer_when_writing_gets_costly():
    # A write of 0.1 s makes the writer pause ~0.9 s: a big state costs at most ~1/10 of a core.
    writes: list[float] = []

    def slow_save():
        writes.append(time.monotonic())
        time.sleep(0.1)

    writer = SnapshotWriter(slow_save, interval=0.01)
    started = time.monotonic()
    while time.monotonic() - started < 0.6:  # a change every 10 ms
        writer.changed()
        time.sleep(0.01)
    written_while_busy = len(writes)
    writer.close()
    assert written_while_busy <= 1, writes  # unpaced: one write per ~0.11 s, five or more
    assert len(writes) == written_while_busy + 1  # close() wrote the last changes


def _write_seed(tmp_path, test_key_pairs, **extra) -> str:
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(default_seed(test_key_pairs) | extra))
    return str(path)


def _start(args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "dracoon_emulator.cli", *args]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_cli_serves_logs_each_request_and_stops_on_sigterm(tmp_path, test_key_pairs):
    seed = _write_seed(tmp_path, test_key_pairs)
    process = _start(["--addr", "127.0.0.1:0", "--seed", seed, "--state", str(tmp_path / "st")])
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        base_url = line.removeprefix("listening on ")

        class Target:
            api_url = base_url + "/api/v4"

        reply = Api(Target).get("/public/system/info")
        assert reply.status == 200 and reply.json()["useS3Storage"] is False
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "GET /api/v4/public/system/info -> 200" in stderr
    assert json.loads((tmp_path / "st" / "state.json").read_text())["users"]


def test_cli_rejects_a_bad_seed(tmp_path):
    bad = tmp_path / "seed.yaml"
    bad.write_text("users:\n  - login: x\nrooms: []\ncolour: blue\n")
    process = _start(["--addr", "127.0.0.1:0", "--seed", str(bad)])
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "invalid seed" in stderr and "colour" in stderr
