"""scripts/demo.sh end to end, as a newcomer runs it (short variant): a real moto server, the
DRACOON emulator, `recording-storage serve` and the second room member's decrypted download."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.support.paths import PROJECT_ROOT

# One xdist worker runs this module's tests (scripts/test.sh: --dist loadgroup):
# demo runs prune each other's run folders under var/demo.
pytestmark = pytest.mark.xdist_group("demo")

DEMO = PROJECT_ROOT / "scripts" / "demo.sh"


def run_demo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_"))}
    env["VENV"] = sys.prefix  # the virtual environment running these tests
    return subprocess.run(
        [str(DEMO), *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def logs_dir(output: str) -> str:
    match = re.search(r"(var/demo/run-[^/\s]+/logs)/", output)
    assert match, output
    return match.group(1)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_quick_demo_transfers_and_verifies():
    result = run_demo("--quick")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert (
        "rooms created      /Meeting recordings/some room, /Meeting recordings/some room/sub-room"
        in out
    )
    assert re.search(r"file uploaded .*test-video\.mp4 .*5\.0 MiB, encrypted, expires 20\d\d-", out)
    assert "file keys          recordings-service, anna, ben" in out
    assert "s3://demo-recordings/sandbox/test-video.mp4 removed" in out
    assert "SQS message        deleted" in out
    assert "verified: ben (second room member)" in out and "= the original" in out
    assert "recording-storage serve exited 0" in out
    assert out.rstrip().splitlines()[-1].startswith("demo OK in ")
    assert (PROJECT_ROOT / logs_dir(out) / "service.log").stat().st_size > 0
    assert "-----BEGIN" not in out and "demo-ben-pw" not in out  # no secrets on screen


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_failing_demo_says_what_failed_and_where_the_logs_are():
    result = run_demo("--quick", "--inject-fault")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "demo FAILED while running the service" in out
    assert "HTTP 403" in out
    assert (PROJECT_ROOT / logs_dir(out) / "service.log").is_file()


def test_usage_errors_exit_2_before_starting_anything():
    result = run_demo("--size", "lots", timeout=120)
    assert result.returncode == 2
    assert "is not a size such as 100MB" in result.stderr
