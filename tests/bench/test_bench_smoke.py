"""CI smoke run of the benchmark: ``scripts/bench.sh --quick`` runs every scenario on small
sizes and prints its table. No speed is asserted (numbers on a shared machine are not a test
result); this only keeps the harness working."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.paths import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SCENARIOS = (
    "0 S3 server",
    "1 one recording (classic)",
    "2 vs official SDK (classic)",
    "1 one recording (s3)",
    "3 three targets",
    "4 small recordings via SQS",
    "5 memory per worker",
    "6 memory vs targets (1)",
    "6 memory vs targets (10)",
)


def test_quick_bench_prints_the_table():
    result = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "bench.sh"), "--quick"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    assert "| scenario | measure | ours | baseline | ratio | target | met | note |" in out
    for scenario in SCENARIOS:
        assert f"| {scenario} |" in out, out
    assert "WRONG" not in out
