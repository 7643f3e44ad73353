"""Runs the real master (``serve``) with a fake job runner, sharer and probes, for the
process-model tests: real processes, real SQS (moto server), real HTTP; only the work is fake.

Usage: ``python -m tests.service.fake_serve WORKDIR`` where ``WORKDIR/spec.json`` holds the
queue URL, endpoint, listener address and worker counts. The fake runner reads its job from
the message body (JSON): ``{"seconds": 2, "fail": null|"invalid"|"retryable"|"permanent",
"bytes": 1000, "redelivery_seconds": 0.2, "hang": false}`` and leaves markers in WORKDIR
(started/, done/, cancelled/) so tests can see what happened in which process. Progress is
reported as the bytes done grow with the time spent; ``"hang": true`` blocks the job's thread
forever on its first delivery (while the heartbeat thread keeps beating) and
``"progress": false`` sleeps its ``seconds`` without reporting any progress.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from recording_storage.jobs.errors import InvalidMessageError, JobError
from recording_storage.logs import setup_logging
from recording_storage.ops.health import PROBES, CredentialCheck, ProbeResult
from recording_storage.workers.master import serve


class FakeRunner:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        for sub in ("started", "done", "cancelled"):
            (workdir / sub).mkdir(exist_ok=True)

    def run(self, body, *, job_id, cancel=None, progress=None, delivery=None):
        job = json.loads(body)
        started = self.workdir / "started" / job_id
        redelivered = started.exists()
        with started.open("a") as marker:
            marker.write(f"{os.getpid()}\n")
        if job.get("fail") == "invalid":
            raise InvalidMessageError("storage.type", "missing")
        seconds = float(job.get("seconds", 0.1))
        if redelivered and "redelivery_seconds" in job:
            seconds = float(job["redelivery_seconds"])
        total = int(job.get("bytes", 1000))
        if job.get("hang") and not redelivered:
            wait_forever_in_the_fake_job()
        started_at = time.monotonic()
        deadline = started_at + seconds
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                (self.workdir / "cancelled" / job_id).write_text(str(os.getpid()))
                raise JobError("upload channel cancelled", retryable=True)
            time.sleep(0.05)
            if progress and job.get("progress", True):
                done = int(total * (time.monotonic() - started_at) / max(seconds, 0.001))
                progress(min(done, total), total)
        if job.get("fail") == "retryable":
            raise JobError("DRACOON answered 503", retryable=True)
        if job.get("fail") == "permanent":
            raise JobError("parent room 42 not found", retryable=False)
        (self.workdir / "done" / job_id).write_text(str(os.getpid()))
        file = SimpleNamespace(key="a.mp4", target="fake")
        return SimpleNamespace(files=[file], bytes_transferred=total, seconds=seconds,
                               s3_deleted=True)  # fmt: skip


def wait_forever_in_the_fake_job() -> None:
    """A work thread that never comes back (the name is what the stack dump must show)."""
    threading.Event().wait()


class FakeSharer:
    def __init__(self, workdir: Path):
        self.workdir = workdir

    def run_once(self):
        with (self.workdir / "sharer-runs").open("a") as runs:
            runs.write(f"{os.getpid()}\n")
        return SimpleNamespace(instances=1, keys_set=2, failures=[])


class FileProbes:
    """Probe results from WORKDIR/probes.json ({"sqs": false, ...}; missing = ok), and
    ``"probe_delay": seconds`` in probes.json delays every round (a slow first probe round)."""

    def __init__(self, workdir: Path):
        self.path = workdir / "probes.json"

    def run_all(self):
        try:
            wanted = json.loads(self.path.read_text())
        except (OSError, ValueError):
            wanted = {}
        time.sleep(float(wanted.get("probe_delay", 0)))
        now = time.time()
        return {
            name: ProbeResult(
                name,
                bool(wanted.get(name, True)),
                "" if wanted.get(name, True) else "forced by test",
                now,
                0.0,
            )
            for name in PROBES
        }


class FileCredentials:
    """Credential checks from WORKDIR/credentials.json
    ({"instance": "accepted"|"refused"|"unknown"})."""

    def __init__(self, path: Path):
        self.path = path

    def run(self):
        try:
            wanted = json.loads(self.path.read_text())
        except (OSError, ValueError):
            wanted = {}
        return {
            name: CredentialCheck(name, state, f"{state} (forced by test)", time.time())
            for name, state in wanted.items()
        }


def build_settings(spec: dict) -> SimpleNamespace:
    """A settings object with the attribute names of config.settings.Settings that the
    service reads (no app.conf needed)."""
    return SimpleNamespace(
        workers=SimpleNamespace(
            file_transferer=SimpleNamespace(
                count=spec.get("transferers", 1), queue="recordings", report_level="chunk"
            ),
            global_sharer=SimpleNamespace(count=spec.get("sharer", 1), job_delay_minutes=60),
        ),
        aws=SimpleNamespace(
            region="eu-central-1",
            endpoint_url=spec["endpoint"],
            s3_endpoint_url=spec["endpoint"],
            sqs_endpoint_url=spec["endpoint"],
        ),
        http=SimpleNamespace(address=spec["http_address"]),
        sqs=SimpleNamespace(wait_time_seconds=1, visibility_timeout_seconds=30, receive_batch=1),
        # The parsed app.conf values SupervisionOptions.from_settings reads (the keys its
        # knobs default to); the others a real Settings would carry are not needed here.
        values={
            "sqs.waitTimeSeconds": 1,
            "sqs.visibilityTimeoutSeconds": 30,
            "workers.shutdownGraceSeconds": 60,
            "workers.progressTimeoutSeconds": 600,
        },
        topics={"recordings": spec["queue_url"]},
        queue_url=spec["queue_url"],
        logger=SimpleNamespace(level="INFO"),
    )


def main() -> int:
    workdir = Path(sys.argv[1])
    spec = json.loads((workdir / "spec.json").read_text())
    setup_logging("DEBUG" if spec.get("debug") else "INFO")
    return serve(
        build_settings(spec),
        runner_factory=lambda settings: FakeRunner(workdir),
        sharer_factory=lambda settings: FakeSharer(workdir),
        probes_factory=lambda settings, timeout: FileProbes(workdir),
        credentials_factory=lambda settings, timeout: FileCredentials(workdir / "credentials.json"),
    )


if __name__ == "__main__":
    sys.exit(main())
