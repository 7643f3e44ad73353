"""prometheus-client's multiprocess mode as the service uses it, without any server: a forked
worker's samples reach the master's exposition, a dead worker's live gauges go while its
counters and its max-mode timestamp stay. Runs in a subprocess (the mode is process-wide)."""

from __future__ import annotations

import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

PROGRAM = r"""
import os, sys, time
from recording_storage.ops import metrics as m

path = m.enable_multiprocess()
m.initialise_worker_labels(["file_transferer-1"])
pid = os.fork()
if pid == 0:  # a worker
    metrics = m.service_metrics()
    metrics.jobs_received.inc(2)
    metrics.jobs_redelivered.inc()
    metrics.transfers_in_flight.inc()
    m.record_success("example.com", when=1234.5)
    m.DracoonMetricsEvents().on_response("GET", "/v4/nodes/{id}", 200, 0.2)
    m.DracoonMetricsEvents().on_response("GET", "/v4/nodes/{id}", 0, 30.0)  # no answer
    os._exit(0)
os.waitpid(pid, 0)
m.mark_process_dead(pid)
registry = m.build_registry(m.StatusCollector(lambda: ({}, {})))
body, content_type = m.render(registry)
sys.stdout.write(body.decode())
m.cleanup_multiprocess(path)
assert not os.path.exists(path)
"""


def test_worker_samples_reach_the_masters_exposition():
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    samples = {}
    for family in text_string_to_metric_families(result.stdout):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert samples[("recording_storage_jobs_received_total", ())] == 2
    assert samples[("recording_storage_jobs_redelivered_total", ())] == 1
    # livesum: the dead worker's in-flight job is not in flight any more.
    assert samples.get(("recording_storage_transfers_in_flight", ()), 0) == 0
    # max: the last success survives the worker that recorded it.
    key = ("recording_storage_last_success_timestamp_seconds", (("instance", "example.com"),))
    assert samples[key] == 1234.5
    operation = (("operation", "GET /v4/nodes/{id}"),)
    assert samples[("recording_storage_dracoon_request_duration_seconds_count", operation)] == 1
    assert samples[("recording_storage_dracoon_request_errors_total",
                    (("method", "GET"), ("status", "0")))] == 1  # fmt: skip
    for cause in ("exited", "hung"):
        labels = (("cause", cause), ("worker", "file_transferer-1"))
        assert samples[("recording_storage_worker_restarts_total", labels)] == 0
    assert any(name == "recording_storage_build_info" for name, _ in samples)


EMPTY_FILE_PROGRAM = r"""
import os, sys
from recording_storage.ops import metrics as m

path = m.enable_multiprocess()
m.service_metrics().jobs_received.inc(3)
# What a worker leaves when it is killed between creating its file and sizing it.
open(os.path.join(path, "counter_424242.db"), "wb").close()
body, _ = m.render(m.build_registry())
sys.stdout.write(body.decode())
m.cleanup_multiprocess(path)
"""


def test_an_empty_file_left_by_a_killed_worker_does_not_break_the_scrape():
    """prometheus-client creates a process's file before sizing it (client_python #1199): its
    own collector fails every scrape on such a file; ours skips it and keeps the others."""
    result = subprocess.run(
        [sys.executable, "-c", EMPTY_FILE_PROGRAM], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(result.stdout)
        for sample in family.samples
    }
    assert samples["recording_storage_jobs_received_total"] == 3
