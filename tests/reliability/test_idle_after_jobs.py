"""After its jobs -- one finished, one cancelled mid-upload -- a worker's threads sleep.

468e49e replaced the upload's 0.2 s polls by waits on signals, with a look every 0.2 s
only while a wait must notice an event that cannot notify; 75586e5 changed when the DRACOON
call deadline thread wakes. Neither may leave a thread that spins, polls for ever once the
worker is idle, or outlives its upload. Over real HTTP (emulator, moto, runners in this
process): after a read-once job into two rooms and a job cancelled while its chunk answers
are held back, no upload thread is left (uploaders, readers, target uploads), and the
threads that stay by design (the call deadline thread, S3 call threads) use next to no
CPU over a few idle seconds. The emulator runs in this process too: its threads are left
out of the measurement.
"""

from __future__ import annotations

import json
import os
import threading
import time

import psutil
import pytest

from recording_storage.jobs.runner import JobError
from tests.jobs.conftest import CHUNK, DOMAIN, readme_message
from tests.support import hostile_server as h

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

IDLE_SECONDS = 3.0
UPLOAD_THREADS = ("dracoon-up", "dracoon-read", "upload-target", "cancelled-job")
SERVICE_THREADS = ("http-call-deadlines", "s3-")  # may stay, asleep


def _service_threads() -> dict[int, str]:
    """Native id -> name of the threads the service's code started."""
    return {
        t.native_id: t.name
        for t in threading.enumerate()
        if t.native_id is not None and t.name.startswith(UPLOAD_THREADS + SERVICE_THREADS)
    }


def _cpu_seconds(native_ids: set[int]) -> float:
    return sum(
        t.user_time + t.system_time for t in psutil.Process().threads() if t.id in native_ids
    )


def test_no_upload_thread_outlives_its_job_and_the_idle_threads_sleep(world):
    with h.HostileServer(world.emulator.base_url, keep_host=True) as proxy:
        world.set_instance(DOMAIN, **{"recordings.dracoon.base-url": proxy.url + "/api/v4"})
        runner = world.runner()
        data = os.urandom(4 * CHUNK + 7)
        world.bucket.put("rec/a.mp4", data)
        body = readme_message(
            bucket=world.bucket.name,
            keys=["rec/a.mp4"],
            targets=[{"path": "rec"}, {"path": "rec2"}],
        )
        runner.run(json.dumps(body), job_id="idle-1")
        world.assert_one_correct_file(data, path="rec")
        world.assert_one_correct_file(data, path="rec2")

        world.bucket.put("rec/b.mp4", data)
        first_chunk = threading.Event()

        def held(upstream, _query):
            first_chunk.set()
            time.sleep(1.0)
            return upstream

        held.needs_upstream = True  # type: ignore[attr-defined]
        proxy.add(h.Rule(r"^/api/v4/uploads/[^/]+$", held, method="POST"))
        cancel = threading.Event()
        raised: list[BaseException] = []

        def run() -> None:
            try:
                runner.run(world.message("rec/b.mp4"), job_id="idle-2", cancel=cancel)
            except BaseException as exc:
                raised.append(exc)

        job = threading.Thread(target=run, name="cancelled-job")
        job.start()
        assert first_chunk.wait(60)
        cancel.set()
        job.join(60)
        assert not job.is_alive() and len(raised) == 1 and isinstance(raised[0], JobError)
        proxy.clear()

        time.sleep(0.5)  # executors and readers end as their uploads return
        left = sorted(n for n in _service_threads().values() if n.startswith(UPLOAD_THREADS))
        assert left == [], f"upload threads outlived their jobs: {left}"
        idle = _service_threads()
        before = _cpu_seconds(set(idle))
        time.sleep(IDLE_SECONDS)
        used = _cpu_seconds(set(idle)) - before
        assert "http-call-deadlines" in idle.values()  # measured: it stays after DRACOON calls
        assert used < 0.1, f"idle service threads {sorted(idle.values())} used {used:.3f}s of CPU"
        for runner in world.runners:
            runner.close()
        world.runners.clear()
