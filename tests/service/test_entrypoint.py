"""``entrypoint.sh`` against the moto S3 server: configuration downloaded, then the master runs;
a failed download stops the container before anything starts."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import pytest

from tests.service.support import ServiceProcess, free_port
from tests.support.paths import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ENTRYPOINT = PROJECT_ROOT / "entrypoint.sh"


@pytest.fixture
def config_env(moto_server, s3_bucket, tmp_path):
    """Environment for entrypoint.sh: the bucket/prefix, moto as S3, the venv on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_"))}
    env.update(moto_server.env)
    bin_dir = os.path.dirname(os.sys.executable)
    env.update(
        PATH=f"{bin_dir}:{env.get('PATH', '')}",
        PYTHON=os.sys.executable,
        AWS_ENDPOINT_URL_S3=moto_server.url,
        RECORDING_STORAGE_CONFIG_BUCKET=s3_bucket.name,
        RECORDING_STORAGE_CONFIG_PREFIX="recording-storage/test",
        RECORDING_STORAGE_CONFIG_DIR=str(tmp_path / "conf"),
    )
    return env


def upload_config(s3_bucket, moto_server, http: str) -> dict[str, bytes]:
    queue_url = moto_server.client("sqs").create_queue(QueueName=f"entry-{uuid.uuid4().hex[:10]}")[
        "QueueUrl"
    ]
    files = {
        "app.conf": (
            "logger.format = json\n"
            "configurator.url = file:instances.yaml\n"
            "workers.DracoonGlobalSharer.count = 0\n"
            "sqs.waitTimeSeconds = 1\n"
            f"http.address = {http}\n"
        ).encode(),
        "pubsub/sqs/topics.yml": f"recordings: {queue_url}\n".encode(),
        "instances.yaml": b"{}\n",
    }
    for name, data in files.items():
        s3_bucket.put(f"recording-storage/test/{name}", data)
    return files


def test_downloads_the_configuration_then_runs_the_master(
    config_env, s3_bucket, moto_server, tmp_path
):
    http = f"127.0.0.1:{free_port()}"
    files = upload_config(s3_bucket, moto_server, http)
    service = ServiceProcess(
        [str(ENTRYPOINT)], env=config_env, log_path=tmp_path / "entry.log", http=http
    )
    # The test's environment must not leak RS_* keys into the service: start from config_env.
    service.env = config_env
    service.start()
    service.wait_listening(timeout=60)
    for name, data in files.items():
        assert (tmp_path / "conf" / name).read_bytes() == data
    # exec: the entry point's process *is* the master, so signals reach it directly.
    assert any(
        r.get("code") == 15000 and r.get("pid") == service.pid for r in service.log_records()
    )
    service.signal(signal.SIGTERM)
    assert service.wait(timeout=60) == 0


def test_a_failed_download_stops_before_anything_starts(config_env, s3_bucket, tmp_path):
    s3_bucket.put("recording-storage/test/app.conf", b"http.address = 127.0.0.1:1\n")
    # topics.yml is missing from the bucket.
    result = subprocess.run(
        [str(ENTRYPOINT)], env=config_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert f"s3://{s3_bucket.name}/recording-storage/test/pubsub/sqs/topics.yml" in result.stderr
    assert "not starting" in result.stderr
    assert "15000" not in result.stderr  # the master never started
    assert not (tmp_path / "conf" / "pubsub" / "sqs" / "topics.yml").exists()


def test_optional_files_may_be_missing(config_env, s3_bucket, tmp_path):
    s3_bucket.put("recording-storage/test/app.conf", b"logger.level = info\n")
    config_env["RECORDING_STORAGE_CONFIG_FILES"] = "app.conf extra.yaml?"
    result = subprocess.run(
        [str(ENTRYPOINT), "true"], env=config_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "conf" / "app.conf").read_bytes() == b"logger.level = info\n"
    assert "extra.yaml not found" in result.stderr


def test_a_missing_bucket_fails_loudly(config_env, tmp_path):
    config_env["RECORDING_STORAGE_CONFIG_BUCKET"] = f"missing-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [str(ENTRYPOINT), "true"], env=config_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "NoSuchBucket" in result.stderr and "not starting" in result.stderr
