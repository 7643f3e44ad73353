"""``entrypoint.sh`` against the moto S3 server: configuration downloaded, then the master runs;
a failed download stops the container before anything starts."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest

from tests.service.support import ANY_PORT, ServiceProcess
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
    http = ANY_PORT
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


# -- signals during the download ---------------------------------------------------------------


@pytest.fixture
def silent_s3():
    """An "S3 endpoint" that accepts connections and never answers: the download hangs."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def _unshare_works() -> bool:
    import shutil

    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "sh", "-c", "test $$ -eq 1"], capture_output=True, timeout=10
    )
    return probe.returncode == 0


AS_PID_1 = pytest.param(
    True,
    id="as-pid-1",
    marks=pytest.mark.skipif(not _unshare_works(), reason="cannot create a PID namespace here"),
)


@pytest.mark.parametrize("pid_1", [pytest.param(False, id="as-child"), AS_PID_1])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_the_download_stops_it_and_nothing_starts(
    config_env, silent_s3, tmp_path, signum, pid_1
):
    """As PID 1 of a container the shell ignores signals it has no trap for, so a stop during
    a hanging download would wait for the kill; as a plain child it would die and orphan the
    download. Either way the download must stop at once, and the master never start."""
    import psutil

    config_env["AWS_ENDPOINT_URL_S3"] = silent_s3
    argv = [str(ENTRYPOINT), "true"]
    if pid_1:  # the entrypoint is PID 1 of a new PID namespace, as in a container
        argv = ["unshare", "--pid", "--fork", *argv]
    proc = subprocess.Popen(
        argv, env=config_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:

        def downloads():
            return [
                p
                for p in psutil.Process(proc.pid).children(recursive=True)
                if "recording_storage.ops.fetch_config" in " ".join(p.cmdline())
            ]

        deadline = time.monotonic() + 30
        while not downloads():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the download did not start"
            time.sleep(0.1)
        (download,) = downloads()
        shell = download.parent()
        time.sleep(0.5)  # the download is now waiting for S3's answer
        shell.send_signal(signum)
        _, stderr = proc.communicate(timeout=20)  # far less than botocore's 60 s read timeout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    expected = 143 if signum == signal.SIGTERM else 130
    assert proc.returncode == expected, stderr
    name = signal.Signals(signum).name
    assert f"entrypoint: {name} received while preparing the configuration; not starting" in stderr
    assert not download.is_running() or download.status() == psutil.STATUS_ZOMBIE
    assert not (tmp_path / "conf" / "app.conf").exists()
