"""Leak test: 300 small jobs through ``recording-storage serve`` (2 FileTransferers, a sharer
pass every 2 s) with the RSS and open file descriptors of the master and every child sampled
after each 50 jobs (scripts/bench/scenarios.py ``soak``). Generous bounds, no timing: a leak
of a few KiB per job or one descriptor per job fails it; the 10,000-job run with its slopes is
``scripts/bench.sh --scenarios soak`` (docs/performance.md)."""

from __future__ import annotations

import pytest

from scripts.bench import scenarios
from scripts.bench.world import MiB, World

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_300_jobs_leave_rss_and_open_files_flat():
    world = World(4 * MiB, modes=("classic",))
    try:
        result = scenarios.soak(world, 300, 16 * 1024, workers=2, every=50)
    finally:
        world.close()

    assert result.failed == 0
    assert result.sharer_passes >= 1
    report = result.report(warmup_fraction=0.3)  # samples at 100..300 jobs
    assert len(report) >= 4, report  # master, 2 transferers, sharer (+ health prober)
    for process in report:
        assert process["samples"] >= 4, process
        growth = process["rss_last_mib"] - process["rss_first_mib"]
        assert growth <= 8, process  # 200 jobs: > 40 KiB per job would be a leak
        assert process["fds_max"] - process["fds_min"] <= 3, process  # pools may open one
