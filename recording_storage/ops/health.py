"""Health: cached probes of the service's dependencies and the verdicts of the endpoints.

Probes (SQS, S3, the configurator, DRACOON) run in the background, in the health-prober
worker process, every ``probe_interval`` seconds; ``/healthcheck`` only reads their cached
results and the master's view of its workers. A monitor polling every second therefore costs
nothing, and a slow dependency cannot make the health endpoint slow.

The verdict keeps the original service's contract: 200 ``{"status": "success"}``, or 500
``{"error": "<name>", "status": "error"}`` naming the first failing part, checked in the order
of :data:`CHECK_ORDER`. A probe result older than ``max_age`` counts as failed: a stuck prober
must not keep reporting an old success. Until the service has started (every worker reported
once and the first probe round came back) it answers ``starting`` instead of guessing.

Next to it, for orchestrators (Kubernetes), three endpoints that each answer one question:

* ``/livez``: is the process alive and its supervision loop turning? Never looks at a
  dependency, so an outage of SQS, S3, the configurator or DRACOON cannot restart the pod.
* ``/startupz``: has the service finished starting (the startup state)?
* ``/readyz``: can this replica take work: started, not stopping, every worker up, and the
  DRACOON credentials of at least one instance accepted (when any were checked)?

Every answer of ``/readyz`` and ``/healthcheck?detail=1`` carries the detail: each probe with
when it was last checked, each instance's credential check, each worker and open circuit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import urllib3

from recording_storage.logcodes import LogCode, log_event

if TYPE_CHECKING:  # imported when used: the master loads this module, not the configurator
    from prometheus_client.metrics_core import Metric

    from recording_storage.configurator import Configurator

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
STARTING = "starting"
CHECK_ORDER = (
    "worker_error_file_transferer",
    "worker_error_dracoon_global_sharer",
    STARTING,
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
    started: bool = True,
) -> tuple[int, dict[str, str]]:
    """The /healthcheck answer: ``(200, {"status": "success"})`` or
    ``(500, {"error": name, "status": "error"})``.

    ``workers_ok`` maps a worker kind to "every slot of that kind is alive with a fresh
    heartbeat"; ``expected_workers`` lists the kinds this deployment runs (the sharer is
    optional). ``started`` False answers ``starting`` unless a worker already failed: no probe
    verdict before the first round of probes ran.
    """
    failing: set[str] = set()
    for kind, error in WORKER_ERRORS.items():
        if kind not in expected_workers or (kind not in workers_ok and not started):
            continue  # not started yet is not an error
        if not workers_ok.get(kind, False):
            failing.add(error)
    if not started:
        failing.add(STARTING)
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
        self._sqs: Any = None  # boto3 clients (untyped)
        self._s3: Any = None
        self._configurator: Configurator | None = None
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

    def check_dracoon_instance(self, domain: str) -> None:
        """The DRACOON of one instance (its own base URL, else ``dracoon.baseUrl``) answers
        its public version endpoint (the circuit breaker's probe of ``dracoon:<domain>``)."""
        instance = self.instance_config(domain)
        base_url = getattr(instance, "base_url", None) or self.settings.dracoon.base_url
        response = self._http.request(
            "GET", dracoon_version_url(base_url), headers={"Connection": "close"}
        )
        if response.status != 200:
            raise ConnectionError(f"DRACOON of {domain} answered HTTP {response.status}")

    def instance_config(self, domain: str) -> Any:
        """The configurator's configuration of ``domain`` (its cache applies)."""
        if self._configurator is None:
            from recording_storage.configurator import make_configurator

            self._configurator = make_configurator(self.settings)
        return self._configurator.get_instance(domain)

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


# -- credentials of every instance ---------------------------------------------------------

CREDENTIALS_ACCEPTED = "accepted"
CREDENTIALS_REFUSED = "refused"
CREDENTIALS_UNKNOWN = "unknown"  # DRACOON or the configurator did not answer: no verdict


@dataclass(frozen=True)
class CredentialCheck:
    """One instance's DRACOON login and key-pair password, as last checked.

    ``detail`` names what was refused (login or key-pair password) and never a secret."""

    instance: str
    state: str  # accepted | refused | unknown
    detail: str
    checked_at: float  # time.time()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CredentialCheck:
        return cls(
            instance=str(data["instance"]),
            state=str(data["state"]),
            detail=str(data.get("detail", "")),
            checked_at=float(data["checked_at"]),
        )


class CredentialChecks:
    """Logs in to every DRACOON instance the configurator lists and unlocks its key pair.

    Runs in the health prober (its own thread, every ``credentials_interval``), so a wrong
    password or key-pair password shows in ``/readyz``, ``/healthcheck?detail=1`` and
    ``recording_storage_dracoon_credentials_ok`` before (and whether or not) a job fails, with
    one log line per instance per check (15018) instead of one per job. The key pair (about a
    second of PBKDF2) is unlocked again only when the instance's credentials changed or the
    last check failed; the login is checked every time.
    """

    def __init__(self, settings: Any, timeout: float = 5.0, client_factory: Any = None) -> None:
        self.settings = settings
        self.timeout = timeout
        self._client_factory = client_factory
        self._configurator: Any = None
        self._unlocked: dict[str, str] = {}  # instance -> digest of credentials that unlocked

    def run(self) -> dict[str, CredentialCheck]:
        if self._configurator is None:
            from recording_storage.configurator import make_configurator

            self._configurator = make_configurator(self.settings)
        try:
            instances = self._configurator.list_dracoon_instances()
        except Exception as error:  # the configurator probe reports this; no verdict here
            log.debug("credential checks skipped: %s", _describe(error))
            return {}
        return {instance.domain: self.check(instance) for instance in instances}

    def check(self, instance: Any) -> CredentialCheck:
        from recording_storage.dracoon.client.errors import (
            DracoonAuthError,
            DracoonConnectionError,
            KeyPairError,
        )

        domain = instance.domain
        digest = hashlib.sha256(
            "\0".join(
                str(part or "")
                for part in (instance.base_url, instance.login, instance.password,
                             instance.encryption_password)
            ).encode()
        ).hexdigest()  # fmt: skip
        client = None
        try:
            client = self._client(instance)
            client.login()
            if instance.encryption_password and self._unlocked.get(domain) != digest:
                client.key_pair  # noqa: B018 - unlocking is the check
                self._unlocked[domain] = digest
        except DracoonAuthError as error:
            return self._refused(instance, f"login of {instance.login!r} refused: {error}")
        except KeyPairError as error:
            self._unlocked.pop(domain, None)
            return self._refused(instance, f"key pair not unlocked: {error}")
        except (DracoonConnectionError, OSError) as error:
            return CredentialCheck(domain, CREDENTIALS_UNKNOWN, _describe(error), time.time())
        except Exception as error:  # an API error other than auth: DRACOON is unwell
            return CredentialCheck(domain, CREDENTIALS_UNKNOWN, _describe(error), time.time())
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        return CredentialCheck(domain, CREDENTIALS_ACCEPTED, "", time.time())

    def _client(self, instance: Any) -> Any:
        from urllib3.util import Retry

        from recording_storage.dracoon.client import DracoonClient

        factory = self._client_factory or DracoonClient
        dracoon = self.settings.dracoon
        return factory(
            instance.base_url or dracoon.base_url,
            instance.login or "",
            instance.password or "",
            client_id=dracoon.client_id,
            client_secret=dracoon.client_secret,
            encryption_password=instance.encryption_password or None,
            timeout=self.timeout,
            retry=Retry(total=1, backoff_factor=0, raise_on_status=False, redirect=0),
        )

    def _refused(self, instance: Any, detail: str) -> CredentialCheck:
        log_event(
            log,
            LogCode.CONFIGURATION_ERROR,
            f"instance {instance.domain}: DRACOON {detail}; its jobs cannot succeed until "
            "recordings.dracoon.login/password/encryption-password are fixed in the "
            "configurator (checked again every credentials_interval)",
            instance=instance.domain,
            probe="credentials",
        )
        return CredentialCheck(instance.domain, CREDENTIALS_REFUSED, detail[:300], time.time())


# -- what the endpoints answer -------------------------------------------------------------


@dataclass(frozen=True)
class WorkerView:
    name: str
    kind: str
    alive: bool
    heartbeat_age: float
    state: str


@dataclass(frozen=True)
class HealthState:
    """The master's published state as the endpoints see it (built per request)."""

    workers: tuple[WorkerView, ...]
    probes: Mapping[str, ProbeResult]
    credentials: Mapping[str, CredentialCheck] = field(default_factory=dict)
    circuits: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    started: bool = True
    stopping: bool = False
    loop_age: float = 0.0  # seconds since the supervision loop last published
    now: float = field(default_factory=time.time)


def iso(timestamp: float) -> str:
    """``time.time()`` as ISO-8601 UTC with milliseconds, e.g. ``2026-12-07T09:24:36.123Z``."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def life_state(state: HealthState) -> str:
    if state.stopping:
        return "stopping"
    return "running" if state.started else STARTING


def liveness(state: HealthState, max_loop_age: float) -> tuple[int, dict[str, Any]]:
    """``/livez``: 200 while the supervision loop turns; only a stuck master fails it."""
    alive = state.loop_age <= max_loop_age
    body = {
        "status": "alive" if alive else "stuck",
        "state": life_state(state),
        "loop_age_seconds": round(state.loop_age, 3),
    }
    return (200 if alive else 503), body


def startup(state: HealthState) -> tuple[int, dict[str, Any]]:
    """``/startupz``: 200 once every worker reported and the first probe round came back."""
    return (200 if state.started else 503), {"status": life_state(state)}


def readiness(
    state: HealthState, *, heartbeat_timeout: float, max_age: float
) -> tuple[int, dict[str, Any]]:
    """``/readyz``: can this replica take work? With the whole detail either way.

    Dependency outages are not reasons: they are shared by every replica (readiness cannot
    route around them) and are reported by ``/healthcheck`` and the alerts; an unready fleet
    would only block rollouts. Wrong credentials are a reason once no instance is accepted.
    """
    reasons = []
    if not state.started:
        reasons.append(STARTING)
    if state.stopping:
        reasons.append("stopping")
    for worker in state.workers:
        if worker.kind == "health_prober":
            continue
        if not worker.alive or worker.heartbeat_age > heartbeat_timeout:
            reasons.append(f"worker_down:{worker.name}")
    verdicts = [check.state for check in state.credentials.values()]
    if CREDENTIALS_REFUSED in verdicts and CREDENTIALS_ACCEPTED not in verdicts:
        reasons.append("credentials_refused")
    body = {"status": "not_ready" if reasons else "ready", "reasons": reasons}
    body.update(detail(state, max_age=max_age))
    return (503 if reasons else 200), body


def detail(state: HealthState, *, max_age: float) -> dict[str, Any]:
    """Everything an operator needs to see why: per probe when it was last checked."""
    probes: dict[str, dict[str, Any]] = {}
    for name in PROBES:
        result = state.probes.get(name)
        if result is None:
            probes[name] = {"ok": None, "detail": "not probed yet", "checked_at": None}
            continue
        age = max(0.0, state.now - result.checked_at)
        probes[name] = {
            "ok": result.ok and age <= max_age,
            "detail": result.detail if age <= max_age else f"stale: last result {age:.0f}s old",
            "checked_at": iso(result.checked_at),
            "age_seconds": round(age, 1),
            "duration_seconds": round(result.seconds, 3),
        }
    credentials = {
        name: {
            "state": check.state,
            "detail": check.detail,
            "checked_at": iso(check.checked_at),
            "age_seconds": round(max(0.0, state.now - check.checked_at), 1),
        }
        for name, check in sorted(state.credentials.items())
    }
    workers = {
        worker.name: {
            "alive": worker.alive,
            "state": worker.state,
            "heartbeat_age_seconds": round(worker.heartbeat_age, 1),
        }
        for worker in state.workers
    }
    return {
        "state": life_state(state),
        "checked_at": iso(state.now),
        "probes": probes,
        "credentials": credentials,
        "workers": workers,
        "circuits": {scope: dict(info) for scope, info in sorted(state.circuits.items())},
    }


class CredentialsCollector:
    """``recording_storage_dracoon_credentials_ok{instance}``: 1 accepted, 0 refused (instances
    whose check had no verdict keep no sample). Computed by the master at scrape time."""

    def __init__(self, credentials: Callable[[], Mapping[str, CredentialCheck]]) -> None:
        self._credentials = credentials

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        gauge = GaugeMetricFamily(
            "recording_storage_dracoon_credentials_ok",
            "1 while the instance's DRACOON login and key-pair password are accepted, 0 while "
            "refused (checked by the health prober every credentials_interval).",
            labels=["instance"],
        )
        for name, check in sorted(self._credentials().items()):
            if check.state != CREDENTIALS_UNKNOWN:
                gauge.add_metric([name], 1.0 if check.state == CREDENTIALS_ACCEPTED else 0.0)
        yield gauge
