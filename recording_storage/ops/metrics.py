"""Prometheus metrics of the service, shared by the master and its worker processes.

The master sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh directory before it forks
(:func:`enable_multiprocess`); every process then writes its samples to its own mmap'ed files
there and the master's ``/metrics`` aggregates them with prometheus-client's
``MultiProcessCollector``. That is the library's own answer to "many processes, one scrape",
so nothing here hand-builds exposition text.

Two rules keep this safe after ``fork``:

* prometheus-client guards its multiprocess files with one process-wide lock. The master
  only touches metrics from its main thread (the thread that forks), never from the HTTP or
  any other thread, so a child can never inherit that lock held.
* Metric objects are created lazily (:func:`service_metrics`) so the value class matches the
  mode chosen by :func:`enable_multiprocess`, whatever was imported before.

Label values are bounded sets (reasons, HTTP status codes, worker slot names): never job
ids, file names or anything from a message.
"""

from __future__ import annotations

import glob
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from recording_storage import __version__
from recording_storage.jobs.errors import REASON_CANCELLED as REASON_CANCELLED
from recording_storage.jobs.errors import REASON_INTERNAL as REASON_INTERNAL
from recording_storage.jobs.errors import REASON_INVALID_MESSAGE as REASON_INVALID_MESSAGE
from recording_storage.jobs.errors import REASON_PERMANENT as REASON_PERMANENT
from recording_storage.jobs.errors import REASON_RETRYABLE as REASON_RETRYABLE

PREFIX = "recording_storage"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Recordings take from seconds (a phone call) to an hour (a long 4K meeting).
TRANSFER_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

# One DRACOON API request, including urllib3's retries of it: from a few ms (a lookup) to
# minutes (a large chunk through a slow link).
DRACOON_REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

# Reasons a job fails, the only values of the ``reason`` label (decided by
# jobs.errors.classify_failure).
REASONS = (
    REASON_INVALID_MESSAGE,
    REASON_RETRYABLE,
    REASON_PERMANENT,
    REASON_CANCELLED,
    REASON_INTERNAL,
)
SHARER_OUTCOMES = ("success", "error")
RETRY_SERVICES = ("dracoon", "s3", "sqs")
RESTART_CAUSES = ("exited", "hung")


@dataclass(frozen=True)
class ServiceMetrics:
    """Every metric the service records (one instance per process, see :func:`service_metrics`)."""

    jobs_received: Counter
    jobs_succeeded: Counter
    jobs_failed: Counter
    bytes_transferred: Counter
    transfer_duration: Histogram
    transfers_in_flight: Gauge
    worker_restarts: Counter
    sharer_runs: Counter
    sharer_keys_distributed: Counter
    dracoon_request_errors: Counter
    s3_request_errors: Counter
    sqs_errors: Counter
    retries: Counter
    jobs_redelivered: Counter
    dracoon_request_duration: Histogram
    last_success: Gauge
    circuit_open: Gauge


_metrics: ServiceMetrics | None = None


def _build() -> ServiceMetrics:
    # registry=None: in multiprocess mode the collector reads the files, and outside it
    # (one-shot CLI runs) nobody scrapes, so nothing needs the default registry.
    def counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
        return Counter(f"{PREFIX}_{name}", doc, list(labels), registry=None)

    built = ServiceMetrics(
        jobs_received=counter("jobs_received", "SQS messages received by FileTransferers."),
        jobs_succeeded=counter(
            "jobs_succeeded", "Jobs whose every file reached every target (message deleted)."
        ),
        jobs_failed=counter(
            "jobs_failed",
            "Jobs that did not succeed, by reason (invalid_message, retryable, permanent, "
            "cancelled, internal).",
            ["reason"],
        ),
        bytes_transferred=counter(
            "bytes_transferred", "Recording bytes read from S3 and uploaded to DRACOON."
        ),
        transfer_duration=Histogram(
            f"{PREFIX}_transfer_duration_seconds",
            "Duration of successful jobs, from receipt to the last upload.",
            buckets=TRANSFER_BUCKETS,
            registry=None,
        ),
        transfers_in_flight=Gauge(
            f"{PREFIX}_transfers_in_flight",
            "Jobs being transferred right now (summed over live workers).",
            registry=None,
            multiprocess_mode="livesum",
        ),
        worker_restarts=counter(
            "worker_restarts",
            "Worker processes replaced by the master, by worker slot and cause (exited, hung).",
            ["worker", "cause"],
        ),
        sharer_runs=counter(
            "sharer_runs", "DracoonGlobalSharer passes, by outcome (success, error).", ["outcome"]
        ),
        sharer_keys_distributed=counter(
            "sharer_keys_distributed", "File keys handed to room members by the sharer."
        ),
        dracoon_request_errors=counter(
            "dracoon_request_errors",
            "DRACOON API responses with status >= 400 (0 = no response), by method and status.",
            ["method", "status"],
        ),
        s3_request_errors=counter(
            "s3_request_errors",
            "S3 requests that failed, by operation and status.",
            ["operation", "status"],
        ),
        sqs_errors=counter(
            "sqs_errors",
            "SQS calls that failed, by operation and error code.",
            ["operation", "code"],
        ),
        retries=counter(
            "retries",
            "Requests retried by the service's clients, by service (dracoon, s3, sqs).",
            ["service"],
        ),
        jobs_redelivered=counter(
            "jobs_redelivered",
            "Messages received more than once (ApproximateReceiveCount > 1): retried, "
            "released at shutdown or orphaned by a dead worker.",
        ),
        dracoon_request_duration=Histogram(
            f"{PREFIX}_dracoon_request_duration_seconds",
            "DRACOON API requests (including their retries) that got an answer, by operation "
            "(method and endpoint with ids masked).",
            ["operation"],
            buckets=DRACOON_REQUEST_BUCKETS,
            registry=None,
        ),
        last_success=Gauge(
            f"{PREFIX}_last_success_timestamp_seconds",
            "Unix time of the last successful job, by DRACOON instance.",
            ["instance"],
            registry=None,
            multiprocess_mode="max",  # kept when the worker that set it is gone
        ),
        circuit_open=Gauge(
            f"{PREFIX}_circuit_open",
            "1 while a circuit breaker stops work for the scope (dependency), 0 while closed.",
            ["scope"],
            registry=None,
            multiprocess_mode="livemax",
        ),
    )
    # Known label values start at 0, so rate() and absent() work before the first event.
    for reason in REASONS:
        built.jobs_failed.labels(reason=reason)
    for outcome in SHARER_OUTCOMES:
        built.sharer_runs.labels(outcome=outcome)
    for service in RETRY_SERVICES:
        built.retries.labels(service=service)
    return built


def service_metrics() -> ServiceMetrics:
    """This process's metrics, created on first use (after :func:`enable_multiprocess`)."""
    global _metrics
    if _metrics is None:
        _metrics = _build()
    return _metrics


def initialise_worker_labels(worker_names: Iterable[str]) -> None:
    """Start ``worker_restarts_total`` at 0 for every worker slot and cause (master, at start)."""
    restarts = service_metrics().worker_restarts
    for name in worker_names:
        for cause in RESTART_CAUSES:
            restarts.labels(worker=name, cause=cause)


def record_success(instance: str | None, when: float | None = None) -> None:
    """Note a successful job of ``instance`` for ``last_success_timestamp_seconds``."""
    if instance:
        service_metrics().last_success.labels(instance=instance).set(
            time.time() if when is None else when
        )


def enable_multiprocess() -> str:
    """Point prometheus-client at a fresh, empty directory and switch it to multiprocess mode.

    Called by the master before it forks any worker. A fresh directory per start matters:
    files left by a previous run would resurrect its counters and dead pids.
    Returns the directory; :func:`cleanup_multiprocess` removes it.
    """
    global _metrics
    path = tempfile.mkdtemp(prefix="recording-storage-metrics-")
    os.environ[MULTIPROC_ENV] = path
    # The value class is normally chosen once, when prometheus_client is first imported;
    # choose again now that the directory exists, and forget metrics built before.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    _metrics = None
    service_metrics()
    return path


def cleanup_multiprocess(path: str) -> None:
    """Remove the directory made by :func:`enable_multiprocess` (at master exit)."""
    shutil.rmtree(path, ignore_errors=True)


def mark_process_dead(pid: int) -> None:
    """Forget a dead worker's live gauges (its counters keep counting in the totals)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


class StatusCollector(Collector):
    """Gauges the master computes at scrape time from its own state (no files involved).

    ``snapshot`` returns ``(workers, probes)``: ``workers`` maps a worker slot name to
    ``(up, heartbeat_age_seconds)``, ``probes`` maps a probe name to ``(ok, age_seconds)``.
    """

    def __init__(
        self,
        snapshot: Callable[[], tuple[dict[str, tuple[bool, float]], dict[str, tuple[bool, float]]]],
    ) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        workers, probes = self._snapshot()
        up = GaugeMetricFamily(
            f"{PREFIX}_worker_up", "1 while the worker slot has a live process.", labels=["worker"]
        )
        age = GaugeMetricFamily(
            f"{PREFIX}_worker_heartbeat_age_seconds",
            "Seconds since the worker slot's last heartbeat.",
            labels=["worker"],
        )
        for name, (alive, heartbeat_age) in sorted(workers.items()):
            up.add_metric([name], 1.0 if alive else 0.0)
            age.add_metric([name], heartbeat_age)
        probe_ok = GaugeMetricFamily(
            f"{PREFIX}_health_probe_ok",
            "1 when the last health probe of the dependency succeeded.",
            labels=["probe"],
        )
        probe_age = GaugeMetricFamily(
            f"{PREFIX}_health_probe_age_seconds",
            "Seconds since the dependency was last probed.",
            labels=["probe"],
        )
        for name, (ok, probe_seconds) in sorted(probes.items()):
            probe_ok.add_metric([name], 1.0 if ok else 0.0)
            probe_age.add_metric([name], probe_seconds)
        build = GaugeMetricFamily(
            f"{PREFIX}_build_info",
            "Always 1; the labels say which version of the service and Python run.",
            labels=["version", "python_version"],
        )
        build.add_metric([__version__, platform.python_version()], 1.0)
        yield from (build, up, age, probe_ok, probe_age)


class ProcessFilesCollector(Collector):
    """Every process's samples from the multiprocess directory, as prometheus-client's
    ``MultiProcessCollector`` merges them, minus files that hold nothing yet.

    prometheus-client creates a process's file before it gives the file its size
    (client_python issue #1199, open in 0.26): a scrape at that moment fails on the 0-byte
    file with ``struct.error``, and a worker killed at that moment leaves the empty file
    behind for good, failing every later scrape. An empty file holds no samples, so skipping
    it loses nothing. A file removed between listing and reading (``mark_process_dead``
    runs in the master's main thread while ``/metrics`` is served from another) gets one
    fresh listing.
    """

    def __init__(self, path: str) -> None:
        self._path = path

    def collect(self) -> Iterable[Metric]:
        try:
            return self._merge()
        except FileNotFoundError:
            return self._merge()

    def _merge(self) -> Iterable[Metric]:
        files = [f for f in glob.glob(os.path.join(self._path, "*.db")) if _holds_bytes(f)]
        merged: Iterable[Metric] = multiprocess.MultiProcessCollector.merge(  # type: ignore[no-untyped-call]
            files, accumulate=True
        )
        return merged


def _holds_bytes(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:
        return False


def build_registry(status: StatusCollector | None = None) -> CollectorRegistry:
    """The registry ``/metrics`` serves: every process's files plus the master's status."""
    registry = CollectorRegistry()
    registry.register(ProcessFilesCollector(os.environ[MULTIPROC_ENV]))
    if status is not None:
        registry.register(status)
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """Exposition text and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


class DracoonMetricsEvents:
    """The ``events`` hook of :class:`DracoonClient`: latency, error responses and retries.

    ``endpoint`` is the transport's label (ids and upload tokens masked, presigned URLs as one
    name), so ``operation`` has a bounded set of values.
    """

    def on_response(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        if status:
            service_metrics().dracoon_request_duration.labels(
                operation=f"{method} {endpoint}"
            ).observe(max(0.0, seconds))
        if status >= 400 or status == 0:
            service_metrics().dracoon_request_errors.labels(method=method, status=str(status)).inc()

    def on_retry(self, method: str, endpoint: str, reason: str) -> None:
        service_metrics().retries.labels(service="dracoon").inc()


def attach_boto3_metrics(client: Any, service: str) -> None:
    """Count a boto3 client's failed requests and retries (botocore's own event hooks).

    ``after-call`` sees every parsed response, including error responses and the number of
    retries botocore made; ``after-call-error`` sees requests that got no response at all.
    Only S3 errors are counted here: SQS errors are counted where they are handled
    (:mod:`recording_storage.aws.sqs`), with their error code.
    """
    events = client.meta.events
    service_id = client.meta.service_model.service_id.hyphenize()

    def operation_of(event_name: str) -> str:
        return event_name.rsplit(".", 1)[-1] if event_name else "unknown"

    def after_call(
        http_response: Any = None, parsed: Any = None, event_name: str = "", **_: Any
    ) -> None:
        metadata = (parsed or {}).get("ResponseMetadata", {})
        attempts = int(metadata.get("RetryAttempts", 0) or 0)
        if attempts:
            service_metrics().retries.labels(service=service).inc(attempts)
        status = getattr(http_response, "status_code", 0) or 0
        if status >= 400 and service == "s3":
            service_metrics().s3_request_errors.labels(
                operation=operation_of(event_name), status=str(status)
            ).inc()

    def after_call_error(event_name: str = "", **_: Any) -> None:
        if service == "s3":
            service_metrics().s3_request_errors.labels(
                operation=operation_of(event_name), status="0"
            ).inc()

    events.register(f"after-call.{service_id}", after_call)
    events.register(f"after-call-error.{service_id}", after_call_error)
