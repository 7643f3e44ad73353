"""Worker recycling (``RECORDING_STORAGE_MAX_JOBS``, off by default): a FileTransferer exits
cleanly after its jobs and the master starts a fresh one at once -- no backoff, no error, no
job lost or done twice. Real processes: ``recording-storage serve``, the emulator, moto."""

from __future__ import annotations

import os

import pytest

from recording_storage.workers.file_transferer import recycle_limit
from recording_storage.workers.options import SupervisionOptions
from tests.jobs.conftest import CHUNK
from tests.service.support import queue_counts, wait_for
from tests.service.test_end_to_end import live  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_off_by_default_and_jittered_when_on():
    assert recycle_limit(SupervisionOptions()) == 0
    limits = {recycle_limit(SupervisionOptions(max_jobs=100, max_jobs_jitter=20))
              for _ in range(200)}  # fmt: skip
    assert min(limits) >= 100 and max(limits) <= 120 and len(limits) > 5


def test_a_worker_recycles_after_max_jobs_and_every_job_is_done_once(live):  # noqa: F811
    service = live.start(RECORDING_STORAGE_MAX_JOBS="2", RECORDING_STORAGE_MAX_JOBS_JITTER="0")
    recordings = {f"rc/{i}.mp4": os.urandom(CHUNK + i) for i in range(5)}
    for key, data in recordings.items():
        live.send(key, data, path="recycled")

    wait_for(lambda: len(live.files("recycled")) == 5, 90, "five files in DRACOON")
    wait_for(lambda: queue_counts(live.sqs, live.queue_url) == (0, 0), 15, "an empty queue")
    files = live.files("recycled")
    assert sorted(f["name"] for f in files) == sorted(k.split("/")[1] for k in recordings)
    for file in files:
        assert live.setup.download_as("alice", file["id"]) == recordings[f"rc/{file['name']}"]
    # 5 jobs at 2 per process: the first two processes recycled, a third ran the last job.
    wait_for(lambda: service.metric("recording_storage_worker_restarts_total",
                                    cause="recycled") >= 2, 10, "two recycles")  # fmt: skip
    pids = service.worker_pids("file_transferer-1")
    assert len(set(pids)) >= 3, pids
    records = service.log_records()
    assert not [r for r in records if r.get("code") == 15015], "a recycle is no worker error"
    assert service.metric("recording_storage_worker_restarts_total", cause="exited") == 0
    assert service.metric("recording_storage_jobs_succeeded_total") == 5
