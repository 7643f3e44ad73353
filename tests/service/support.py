"""Helpers of the service tests: run the service as a subprocess and look at it from outside
(HTTP, its JSON log lines, its processes, the SQS queue).

Starting and stopping the process, reading its JSON log and parsing ``/metrics`` are the
demo's and the benchmark's too (``scripts/local_world``); this module adds what tests ask.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from scripts.local_world.http import http_get
from scripts.local_world.processes import Process, WorldError, free_port, wait_until
from scripts.local_world.service import JsonLog, metric_samples

__all__ = ["ANY_PORT", "AWS_ENV", "FAST_OPTIONS", "ServiceProcess", "free_port", "wait_for"]

# A service started with ``http.address = 127.0.0.1:0`` (``ANY_PORT``) listens on a port the OS
# picks, so no other process (another test worker) can take it between a check and the bind;
# the master names the port in its start record (code 15000), in text and JSON logs alike.
ANY_PORT = "127.0.0.1:0"
_LISTENING = re.compile(r"/healthcheck and /metrics on (\d+\.\d+\.\d+\.\d+:\d+)")

FAST_OPTIONS = {
    "RECORDING_STORAGE_HEARTBEAT_INTERVAL": "0.2",
    "RECORDING_STORAGE_HEARTBEAT_TIMEOUT": "3",
    "RECORDING_STORAGE_GRACEFUL_TIMEOUT": "10",
    "RECORDING_STORAGE_CANCEL_TIMEOUT": "10",
    "RECORDING_STORAGE_RESTART_BACKOFF_INITIAL": "0.2",
    "RECORDING_STORAGE_SQS_WAIT_SECONDS": "1",
    "RECORDING_STORAGE_SQS_VISIBILITY_SECONDS": "3",
    "RECORDING_STORAGE_RETRY_DELAY_SECONDS": "1",
    "RECORDING_STORAGE_PROBE_INTERVAL": "0.3",
    "RECORDING_STORAGE_PROBE_MAX_AGE": "10",
    "RECORDING_STORAGE_TICK": "0.1",
}
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-central-1",
}


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval=0.1):
    """Poll ``predicate`` until it returns something truthy; fail the test naming ``what``."""
    try:
        return wait_until(predicate, timeout, what, interval=interval)
    except WorldError as error:
        raise AssertionError(str(error)) from None


class ServiceProcess:
    """The service (master + workers) as a subprocess in its own session."""

    def __init__(self, argv: list[str], *, env: dict[str, str], log_path: Path, http: str):
        self.argv = argv
        self.env = {**os.environ, **AWS_ENV, **env}
        self.log_path = log_path
        self.configured_http = http  # as configured: ANY_PORT until the master listens
        self.http = http  # where it listens (wait_listening finds the port for ANY_PORT)
        self.process: Process | None = None
        self.proc = None  # its Popen once started
        self._log_start = 0

    def start(self) -> ServiceProcess:
        self.http = self.configured_http
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = Process("the service", self.argv, self.log_path, self.env)
        self.proc = self.process.popen
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def get(self, path: str) -> tuple[int, bytes]:
        return http_get(f"http://{self.http}{path}")

    def wait_listening(self, timeout: float = 30) -> None:
        def up():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"service exited early ({self.proc.returncode}):\n" + self.log_text()[-3000:]
                )
            if self.http.endswith(":0"):
                with self.log_path.open("rb") as log:
                    log.seek(self._log_start)
                    listening = _LISTENING.search(log.read().decode(errors="replace"))
                if listening is None:
                    return False
                self.http = listening[1]
            with contextlib.suppress(OSError):
                return self.get("/metrics")[0] == 200
            return False

        wait_for(up, timeout, "the service's HTTP listener")

    def health(self) -> tuple[int, dict]:
        status, body = self.get("/healthcheck")
        return status, json.loads(body)

    def metrics(self) -> dict[tuple[str, tuple], float]:
        """Every sample as {(name, sorted label items): value}."""
        status, body = self.get("/metrics")
        assert status == 200
        return metric_samples(body.decode())

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples named ``name`` whose labels include ``labels`` (0 if none)."""
        total = 0.0
        for (sample_name, sample_labels), value in self.metrics().items():
            if sample_name == name and set(labels.items()) <= set(sample_labels):
                total += value
        return total

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict]:
        return JsonLog(self.log_path).records()

    def worker_pids(self, worker: str) -> list[int]:
        """Pids the master started for slot ``worker``, oldest first (from its log)."""
        return [
            int(r["pid"])
            for r in self.log_records()
            if r.get("worker") == worker
            and str(r.get("message", "")).startswith(worker + " started")
        ]

    def current_pid(self, worker: str, timeout: float = 15) -> int:
        return wait_for(
            lambda: (self.worker_pids(worker) or [None])[-1], timeout, f"{worker} to start"
        )

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Teardown: SIGTERM, then SIGKILL the whole session if it lingers."""
        if self.process is not None:
            self.process.stop(timeout=30)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def queue_counts(sqs, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )
