"""``recording-storage version`` and the progress output of ``recording-storage transfer``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from recording_storage import cli
from recording_storage.jobs import runner as runner_module
from recording_storage.jobs.runner import JobResult

MiB = 2**20


def test_version_prints_the_package_metadata_version():
    installed = version("recording-storage")
    result = subprocess.run(
        [sys.executable, "-m", "recording_storage.cli", "version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout == f"recording-storage {installed}\n"
    assert installed != "0+unknown"


class ProgressingRunner:
    """Stands in for JobRunner: reports 10 x 1 MiB of progress and succeeds."""

    def __init__(self, settings):
        self.settings = settings

    def run(self, body, *, job_id, cancel=None, progress=None):
        for step in range(11):
            if progress is not None:
                progress(step * MiB, 10 * MiB)
        return JobResult(files=[], bytes_transferred=10 * MiB, seconds=1.0, s3_deleted=True)

    def close(self):
        pass


@pytest.fixture
def transfer_args(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "JobRunner", ProgressingRunner)
    for name in [n for n in os.environ if n.startswith("RS_")]:
        monkeypatch.delenv(name)
    (tmp_path / "instances.yaml").write_text("{}\n")
    (tmp_path / "app.conf").write_text("logger.format = text\n")
    (tmp_path / "message.json").write_text("{}")
    return ["--config", str(tmp_path / "app.conf"), "transfer",
            "--message", str(tmp_path / "message.json")]  # fmt: skip


def test_transfer_prints_plain_progress_lines_off_a_terminal(transfer_args, capsys):
    assert cli.main(transfer_args) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("transfer: ")]
    assert lines[0].startswith("transfer: 0 B of 10.0 MiB (0%)")
    assert lines[-1].startswith("transfer: 10.0 MiB of 10.0 MiB (100%)")
    assert "\r" not in captured.err
    assert '"status": "success"' in captured.out  # the JSON summary stays alone on stdout


def test_transfer_progress_can_be_forced_live_or_off(transfer_args, capsys):
    assert cli.main([*transfer_args, "--progress", "live"]) == 0
    assert "\r\x1b[Ktransfer: 10.0 MiB of 10.0 MiB (100%)" in capsys.readouterr().err
    assert cli.main([*transfer_args, "--progress", "off"]) == 0
    assert "MiB of 10.0 MiB" not in capsys.readouterr().err


@pytest.mark.parametrize(("buckets", "warned"), [("", True), ("recordings-eu", False)])
def test_serve_warns_once_when_any_bucket_is_accepted(tmp_path, monkeypatch, capsys, buckets,
                                                      warned):  # fmt: skip
    from recording_storage.workers import master

    for name in [n for n in os.environ if n.startswith("RS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(master, "serve", lambda settings, **options: 0)
    (tmp_path / "instances.yaml").write_text("{}\n")
    (tmp_path / "topics.yml").write_text("recordings: http://127.0.0.1:9/000000000000/q\n")
    (tmp_path / "app.conf").write_text(f"logger.format = text\ns3.allowedBuckets = {buckets}\n")
    args = ["--config", str(tmp_path / "app.conf"), "serve"]
    monkeypatch.setenv("RS_TOPICS", str(tmp_path / "topics.yml"))
    assert cli.main(args) == 0
    # setup_logging replaced the root handlers, so read the text log lines on stderr.
    lines = capsys.readouterr().err.splitlines()
    warnings = [line for line in lines if "s3.allowedBuckets is empty" in line]
    assert len(warnings) == (1 if warned else 0)
    assert all(" WARNING " in line for line in warnings)


def test_config_keys_lists_every_declared_setting_without_reading_a_config(tmp_path, capsys):
    from recording_storage.config import KEYS, KNOBS

    missing = tmp_path / "none.conf"  # config keys needs no configuration file
    assert cli.main(["--config", str(missing), "config", "keys"]) == 0
    text = capsys.readouterr().out
    for spec in KEYS:
        assert f"\n{spec.key} " in text and spec.env_var in text, spec.key
    for knob in KNOBS:
        assert f"\n{knob.env_var} = " in text, knob.key
    assert "s3.chunkSize = 20MiB\n    size 64 KiB-1 GiB; RS_S3_CHUNKSIZE\n" in text
    assert "RECORDING_STORAGE_TICK = 0.5\n    0.01-5 (0 makes the master spin" in text

    assert cli.main(["config", "keys", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert len(listed) == len(KEYS) + len(KNOBS) + 4  # + entrypoint.sh's CONFIG_* variables
    assert listed["config_files"]["environment"] == "RECORDING_STORAGE_CONFIG_FILES"
    assert listed["dracoon.password"]["secret"] is True
    assert listed["graceful_timeout"]["default_from"] == "workers.shutdownGraceSeconds"
    assert listed["graceful_timeout"]["environment"] == "RECORDING_STORAGE_GRACEFUL_TIMEOUT"


def test_help_points_at_the_settings_listing(capsys):
    with pytest.raises(SystemExit):
        cli.main(["config", "check", "--help"])
    assert "recording-storage config keys" in capsys.readouterr().out.replace("\n", " ")
