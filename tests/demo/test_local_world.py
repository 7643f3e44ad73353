"""scripts/local_world, the stand-ins the demo, the benchmark and the tests share: the parts a
demo run does not prove by itself (tests/demo/test_demo.py runs the whole world).

- the configuration files it writes are what the service reads (its own loader parses them);
- stopping a child leaves nothing of its session behind (the service forks workers);
- a stand-in that dies while starting is reported with its log, not waited for.
"""

from __future__ import annotations

import os
import sys

import pytest
import yaml

from recording_storage.config import load_settings
from scripts.local_world.processes import ProcessGroup, WorldError, wait_until
from scripts.local_world.service import instance, write_config


def test_written_configuration_is_what_the_service_loads(tmp_path):
    account = instance("http://127.0.0.1:9/api/v4", 1000, "svc", "svc-pw", "svc-crypto-pw")
    conf = write_config(
        tmp_path,
        {
            "configurator.url": "file:instances.yaml",
            "workers.FileTransferer.count": 3,
            "workers.FileTransferer.queue": "recordings",
            "s3.allowedBuckets": "bucket-a",
            "http.address": "127.0.0.1:8123",
        },
        instances={"example.org": account},
        topics={"recordings": "http://127.0.0.1:9/000000000000/jobs"},
        header="written by a test",
    )

    settings = load_settings(conf, env={})
    assert settings.workers.file_transferer.count == 3
    assert settings.require_queue_url() == "http://127.0.0.1:9/000000000000/jobs"
    assert settings.http.port == 8123
    instances = yaml.safe_load((tmp_path / "instances.yaml").read_text())
    assert instances == {"example.org": account}
    assert conf.read_text().startswith("# written by a test\n")


def test_stopping_a_child_kills_what_it_forked(tmp_path):
    group = ProcessGroup(pid_file=tmp_path / "pids")
    forks = tmp_path / "forked.pid"
    # A parent that ignores SIGTERM and leaves a grandchild behind, like a hung master.
    script = (
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(forks)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    child = group.start("a stubborn parent", [sys.executable, "-c", script], tmp_path / "log", {})
    assert (tmp_path / "pids").read_text() == f"{child.pid}\n"
    grandchild = int(wait_until(lambda: forks.exists() and forks.read_text(), 30, "the fork"))

    status = group.stop(child, timeout=0.5)

    assert status == -9  # SIGTERM ignored: killed with its session
    assert child.popen.poll() == -9
    assert (tmp_path / "pids").read_text() == ""
    wait_until(lambda: not _running(grandchild), 10, "the grandchild to be gone")


def test_a_stand_in_that_dies_while_starting_is_reported_with_its_log(tmp_path):
    group = ProcessGroup()
    argv = [
        sys.executable,
        "-c",
        "import sys; print('no port for me', file=sys.stderr); sys.exit(3)",
    ]
    child = group.start("a broken server", argv, tmp_path / "server.log", {})
    try:
        with pytest.raises(WorldError) as failure:
            child.wait_for_line("listening on ", timeout=30)
    finally:
        group.stop_all()
    assert str(failure.value) == "a broken server exited with status 3"
    assert "no port for me" in failure.value.hint


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie (init reaps it soon) is gone for us
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
