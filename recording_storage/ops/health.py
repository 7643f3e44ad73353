"""Health: cached probes of the service's dependencies and the /healthcheck verdict.

Probes (SQS, S3, the configurator, DRACOON) run in the background, in the health-prober
worker process, every ``probe_interval`` seconds; ``/healthcheck`` only reads their cached
results and the master's view of its workers. A monitor polling every second therefore costs
nothing, and a slow dependency cannot make the health endpoint slow.

The verdict keeps the original service's contract: 200 ``{"status": "success"}``, or 500
``{"error": "<name>", "status": "error"}`` naming the first failing part, checked in the order
of :data:`CHECK_ORDER`. A probe result older than ``max_age`` counts as failed: a stuck prober
must not keep reporting an old success.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import urllib3

from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)

PROBE_SQS = "sqs"
PROBE_S3 = "s3"
PROBE_CONFIGURATOR = "configurator"
PROBE_DRACOON = "dracoon"
PROBES = (PROBE_SQS, PROBE_S3, PROBE_CONFIGURATOR, PROBE_DRACOON)

WORKER_ERRORS = {
    "file_transferer": "worker_error_file_transferer",
    "dracoon_global_sharer": "worker_error_dracoon_global_sharer",
}
PROBE_ERRORS = {name: f"{name}_error" for name in PROBES}
CHECK_ORDER = (
    "worker_error_file_transferer",
    "worker_error_dracoon_global_sharer",
    "sqs_error",
    "s3_error",
    "configurator_error",
    "dracoon_error",
)


@dataclass(frozen=True)
class ProbeResult:
    """One probe's outcome. ``detail`` is a short reason, never a secret or a URL with one."""

    name: str
    ok: bool
    detail: str
    checked_at: float  # time.time()
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProbeResult:
        return cls(
            name=str(data["name"]),
            ok=bool(data["ok"]),
            detail=str(data.get("detail", "")),
            checked_at=float(data["checked_at"]),
            seconds=float(data.get("seconds", 0.0)),
        )


def verdict(
    workers_ok: Mapping[str, bool],
    probes: Mapping[str, ProbeResult],
    *,
    now: float,
    max_age: float,
    expected_workers: set[str],
) -> tuple[int, dict[str, str]]:
    """The /healthcheck answer: ``(200, {"status": "success"})`` or
    ``(500, {"error": name, "status": "error"})``.

    ``workers_ok`` maps a worker kind to "every slot of that kind is alive with a fresh
    heartbeat"; ``expected_workers`` lists the kinds this deployment runs (the sharer is
    optional).
    """
    failing: set[str] = set()
    for kind, error in WORKER_ERRORS.items():
        if kind in expected_workers and not workers_ok.get(kind, False):
            failing.add(error)
    for name, error in PROBE_ERRORS.items():
        result = probes.get(name)
        if result is None or not result.ok or now - result.checked_at > max_age:
            failing.add(error)
    for name in CHECK_ORDER:
        if name in failing:
            return 500, {"error": name, "status": "error"}
    return 200, {"status": "success"}


def dracoon_version_url(base_url: str) -> str:
    """``https://host`` or ``https://host/api/v4`` -> the public version endpoint."""
    base = base_url.rstrip("/")
    if not base.endswith("/api/v4"):
        base += "/api/v4"
    return base + "/public/software/version"


class HealthProbes:
    """Runs every probe once per :meth:`run_all`. Lives in the health-prober process.

    Clients are created lazily and reused; each call has a short timeout. Failures are
    logged (15014) when a probe turns bad and when it recovers, not on every round.
    """

    def __init__(self, settings: Any, timeout: float = 5.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._sqs = None
        self._s3 = None
        self._configurator = None
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout), retries=False)
        self._last_ok: dict[str, bool] = {}
        self.checks: dict[str, Callable[[], None]] = {
            PROBE_SQS: self.check_sqs,
            PROBE_S3: self.check_s3,
            PROBE_CONFIGURATOR: self.check_configurator,
            PROBE_DRACOON: self.check_dracoon,
        }

    def run_all(self) -> dict[str, ProbeResult]:
        return {name: self.run(name) for name in self.checks}

    def run(self, name: str) -> ProbeResult:
        started = time.monotonic()
        try:
            self.checks[name]()
        except Exception as error:
            result = ProbeResult(
                name, False, _describe(error), time.time(), time.monotonic() - started
            )
        else:
            result = ProbeResult(name, True, "", time.time(), time.monotonic() - started)
        self._log_transition(result)
        return result

    # -- the probes ----------------------------------------------------------------------

    def check_sqs(self) -> None:
        url = self.settings.queue_url
        if not url:
            raise LookupError(
                f"queue key {self.settings.workers.file_transferer.queue!r} is not in topics.yml"
            )
        if self._sqs is None:
            self._sqs = self._client("sqs", self.settings.aws.sqs_endpoint_url)
        self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])

    def check_s3(self) -> None:
        if self._s3 is None:
            self._s3 = self._client("s3", self.settings.aws.s3_endpoint_url)
        buckets = tuple(getattr(self.settings.s3, "allowed_buckets", ()) or ())
        if buckets:
            for bucket in buckets:
                self._s3.head_bucket(Bucket=bucket)
        else:
            self._s3.list_buckets()

    def check_configurator(self) -> None:
        if self._configurator is None:
            from recording_storage.configurator import make_configurator

            self._configurator = make_configurator(self.settings)
        self._configurator.list_dracoon_instances()

    def check_dracoon(self) -> None:
        base_url = self.settings.dracoon.base_url
        if not base_url:
            raise LookupError("dracoon.baseUrl is empty")
        # A fresh connection each time: a kept-alive one can outlive the server's listener.
        response = self._http.request(
            "GET", dracoon_version_url(base_url), headers={"Connection": "close"}
        )
        if response.status != 200:
            raise ConnectionError(f"DRACOON answered HTTP {response.status}")

    def _client(self, service: str, endpoint: str | None) -> Any:
        """A boto3 client with the probe's short timeouts and a single retry."""
        from botocore.config import Config

        from recording_storage.aws.session import make_session

        config = Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"mode": "standard", "max_attempts": 2},
            s3={"addressing_style": "path"} if endpoint else None,
        )
        return make_session(self.settings).client(service, endpoint_url=endpoint, config=config)

    def _log_transition(self, result: ProbeResult) -> None:
        previous = self._last_ok.get(result.name)
        self._last_ok[result.name] = result.ok
        if not result.ok and previous is not False:
            log_event(
                log,
                LogCode.HEALTHCHECK_ERROR,
                f"health probe {result.name} failed: {result.detail}",
                probe=result.name,
            )
        elif result.ok and previous is False:
            # Same code as the failure, at INFO: alerting keys on level, grep on the code.
            log.info(
                "health probe %s recovered",
                result.name,
                extra={"code": int(LogCode.HEALTHCHECK_ERROR), "probe": result.name},
            )


def _describe(error: BaseException) -> str:
    """A short reason: the AWS error code or the exception class and message (first line)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and response.get("Error", {}).get("Code"):
        return f"{type(error).__name__}: {response['Error']['Code']}"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:300]
