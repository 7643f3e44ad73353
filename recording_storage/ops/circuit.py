"""Circuit breakers: stop taking jobs for a dependency that is down, probe it until it is back.

Without them, a 30-minute DRACOON outage makes every FileTransferer receive job after job,
fail each one as retryable and put it back: every delivery counts toward the queue's
``maxReceiveCount``, so the whole backlog ends in the dead-letter queue although nothing is
wrong with it. With them, after ``circuit_failures`` retryable failures *in a row* of one
scope, the worker stops taking that scope's jobs and probes the dependency every
``circuit_probe_interval`` instead:

==========================  ====================================================================
scope                       while open
==========================  ====================================================================
``s3``                      every job needs S3: the worker stops receiving
``configurator``            every job needs its instance's configuration: stops receiving
``dracoon:<instance>``      only that instance's jobs wait: a received message of the instance
                            is *held* (kept invisible, its visibility renewed) and released
                            (visible again at once) when the circuit closes; other instances'
                            jobs run as usual
``credentials:<instance>``  DRACOON refused the instance's login or key-pair password (jobs
                            that fail this way need a human, so they would all end in the
                            dead-letter queue): held like the above, probed by a login every
                            ``credentials_interval`` (not more often: an account may lock)
==========================  ====================================================================

A held message costs the one receive that found it, however long the outage lasts. Holding
is bounded (``circuit_max_held`` per worker); beyond it a message is put back with the hold
visibility, which costs one receive per ``circuit_hold_seconds``.

A probe that succeeds closes the circuit *half-open*: the next job of the scope runs, and one
more retryable failure opens it again at once. A success of a job resets its scopes' counts.
Each worker process has its own breakers (they learn from their own jobs); the master shows
every worker's open circuits in ``/readyz`` and ``recording_storage_circuit_open{scope}``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from recording_storage.jobs.errors import dependency_in_chain
from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)

SCOPE_S3 = "s3"
SCOPE_CONFIGURATOR = "configurator"
DRACOON_PREFIX = "dracoon:"
CREDENTIALS_PREFIX = "credentials:"
INSTANCE_PREFIXES = (DRACOON_PREFIX, CREDENTIALS_PREFIX)
GLOBAL_SCOPES = (SCOPE_S3, SCOPE_CONFIGURATOR)

CLOSED = "closed"
OPEN = "open"


def dracoon_scope(instance: str) -> str:
    return DRACOON_PREFIX + instance


def credentials_scope(instance: str) -> str:
    return CREDENTIALS_PREFIX + instance


def instance_of_scope(scope: str) -> str | None:
    for prefix in INSTANCE_PREFIXES:
        if scope.startswith(prefix):
            return scope[len(prefix) :]
    return None


@dataclass
class Circuit:
    scope: str
    state: str = CLOSED
    failures: int = 0  # retryable failures in a row
    opened_at: float = 0.0  # time.time() of the last opening
    next_probe: float = 0.0  # monotonic
    last_error: str = ""
    probes: int = 0  # probes since it opened

    def to_json(self) -> dict[str, Any]:
        from recording_storage.ops.health import iso

        return {
            "state": self.state,
            "since": iso(self.opened_at),
            "failures": self.failures,
            "probes": self.probes,
            "last_error": self.last_error[:300],
        }


class CircuitBreakers:
    """Every circuit of one worker process. Thread-safe: the heartbeat thread reads it.

    ``on_change(scope, is_open)`` is called on every opening and closing (metrics).
    """

    def __init__(
        self,
        threshold: int,
        probe_interval: float,
        *,
        credentials_interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, bool], None] | None = None,
        log_fields: dict[str, Any] | None = None,
    ) -> None:
        self.threshold = threshold
        self.probe_interval = probe_interval
        self.credentials_interval = credentials_interval or probe_interval
        self._clock = clock
        self._on_change = on_change
        self._fields = dict(log_fields or {})
        self._circuits: dict[str, Circuit] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def interval(self, scope: str) -> float:
        """Seconds between probes: a login with refused credentials only every
        ``credentials_interval`` (repeated failed logins can lock a DRACOON account)."""
        if scope.startswith(CREDENTIALS_PREFIX):
            return max(self.probe_interval, self.credentials_interval)
        return self.probe_interval

    def record_failure(self, scope: str, error: str) -> bool:
        """Count a retryable failure of ``scope``; True when it opened the circuit now."""
        if not self.enabled:
            return False
        with self._lock:
            circuit = self._circuits.setdefault(scope, Circuit(scope))
            circuit.failures += 1
            circuit.last_error = error
            if circuit.state == OPEN or circuit.failures < self.threshold:
                return False
            circuit.state = OPEN
            circuit.opened_at = time.time()
            circuit.next_probe = self._clock() + self.interval(scope)
            circuit.probes = 0
        log_event(
            log,
            LogCode.HEALTHCHECK_ERROR,
            f"circuit {scope} open after {circuit.failures} failures in a row "
            f"(last: {error[:300]}); {_what_waits(scope)}; probing every "
            f"{self.interval(scope):g}s until it answers",
            **self._fields,
            scope=scope,
            failures=circuit.failures,
        )
        self._changed(scope, True)
        return True

    def record_success(self, scopes: Iterator[str] | list[str]) -> None:
        """A job succeeded: its scopes work (resets their counts)."""
        with self._lock:
            for scope in scopes:
                circuit = self._circuits.get(scope)
                if circuit is not None and circuit.state == CLOSED:
                    del self._circuits[scope]

    def is_open(self, scope: str | None) -> bool:
        if scope is None:
            return False
        with self._lock:
            circuit = self._circuits.get(scope)
            return circuit is not None and circuit.state == OPEN

    def global_open(self) -> list[str]:
        """Open scopes that every job needs (S3, configurator): nothing can be taken."""
        with self._lock:
            return [s for s in GLOBAL_SCOPES if s in self._circuits and self._is_open(s)]

    def due(self) -> list[str]:
        """Open scopes whose next probe is due."""
        now = self._clock()
        with self._lock:
            return [
                c.scope for c in self._circuits.values() if c.state == OPEN and c.next_probe <= now
            ]

    def seconds_to_next_probe(self) -> float | None:
        now = self._clock()
        with self._lock:
            times = [c.next_probe - now for c in self._circuits.values() if c.state == OPEN]
        return max(0.0, min(times)) if times else None

    def probed(self, scope: str, ok: bool, detail: str = "") -> bool:
        """Record a probe of an open ``scope``; True when it closed the circuit (half-open)."""
        with self._lock:
            circuit = self._circuits.get(scope)
            if circuit is None or circuit.state != OPEN:
                return False
            circuit.probes += 1
            if not ok:
                circuit.next_probe = self._clock() + self.interval(scope)
                if detail:
                    circuit.last_error = detail
                return False
            circuit.state = CLOSED
            circuit.failures = self.threshold - 1  # half-open: one more failure reopens
            outage = time.time() - circuit.opened_at
        log.info(
            "circuit %s closed: the probe succeeded after %.0fs; taking its jobs again "
            "(one more retryable failure reopens it)",
            scope,
            outage,
            extra={"code": int(LogCode.HEALTHCHECK_ERROR), **self._fields, "scope": scope,
                   "open_seconds": round(outage, 1)},
        )  # fmt: skip
        self._changed(scope, False)
        return True

    def open_circuits(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {c.scope: c.to_json() for c in self._circuits.values() if c.state == OPEN}

    def _is_open(self, scope: str) -> bool:
        return self._circuits[scope].state == OPEN

    def _changed(self, scope: str, is_open: bool) -> None:
        if self._on_change is not None:
            with contextlib.suppress(Exception):  # metrics must never break the worker
                self._on_change(scope, is_open)


def _what_waits(scope: str) -> str:
    instance = instance_of_scope(scope)
    if instance is not None:
        return f"jobs of instance {instance} are held in the queue"
    return "no jobs are taken"


def failure_scope(error: BaseException, instance: str | None) -> str | None:
    """The circuit scope a job failure blames, or None when it is not clear: the
    dependency comes from ``jobs.errors.dependency_in_chain`` (the one place that
    classifies failures), the scope adds the instance where the dependency is per instance.
    """
    dependency = dependency_in_chain(error)
    if dependency == "dracoon":
        return dracoon_scope(instance) if instance else None
    if dependency == "credentials":
        return credentials_scope(instance) if instance else None
    if dependency in GLOBAL_SCOPES:
        return dependency
    return None


class DependencyProbes:
    """The probe of each scope: S3 and the configurator as the health prober probes them;
    an instance's DRACOON by its public version endpoint (its own base URL when it has one)."""

    def __init__(self, settings: Any, timeout: float = 5.0) -> None:
        from recording_storage.ops.health import CredentialChecks, HealthProbes

        self.settings = settings
        self._probes = HealthProbes(settings, timeout=timeout)
        self._credentials = CredentialChecks(settings, timeout=timeout)

    def __call__(self, scope: str) -> None:
        """Raises when the dependency does not answer as it should."""
        if scope == SCOPE_S3:
            self._probes.check_s3()
        elif scope == SCOPE_CONFIGURATOR:
            self._probes.check_configurator()
        elif scope.startswith(DRACOON_PREFIX):
            self._probes.check_dracoon_instance(scope[len(DRACOON_PREFIX) :])
        elif scope.startswith(CREDENTIALS_PREFIX):
            from recording_storage.ops.health import CREDENTIALS_REFUSED

            instance = self._probes.instance_config(scope[len(CREDENTIALS_PREFIX) :])
            check = self._credentials.check(instance)
            if check.state == CREDENTIALS_REFUSED:
                raise PermissionError(check.detail)
            # accepted, or DRACOON did not answer: let a job find out (half-open)
        else:
            raise LookupError(f"unknown scope {scope!r}")


class MessageHold:
    """Messages held back by open circuits: kept invisible (renewed every third of the hold)
    by a background thread, released when their scope closes.

    ``consumer`` is the worker's :class:`~recording_storage.aws.sqs.SqsConsumer`.
    """

    def __init__(self, consumer: Any, hold_seconds: int, max_held: int) -> None:
        self.consumer = consumer
        self.hold_seconds = hold_seconds
        self.max_held = max_held
        self._held: dict[str, tuple[Any, str, float]] = {}  # id -> (message, scope, renewed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name="held-messages", daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)

    def hold(self, message: Any, scope: str) -> bool:
        """Keep ``message`` invisible until ``scope`` closes; False when the hold is full and
        the message was only put back with the hold visibility."""
        self.consumer.change_visibility(message, self.hold_seconds)
        with self._lock:
            if len(self._held) >= self.max_held:
                return False
            self._held[message.message_id] = (message, scope, time.monotonic())
        return True

    def release(self, scope: str) -> int:
        """Make every message held for ``scope`` visible again now; returns how many."""
        with self._lock:
            released = [m for m, s, _ in self._held.values() if s == scope]
            for message in released:
                del self._held[message.message_id]
        for message in released:
            self.consumer.change_visibility(message, 0)
        return len(released)

    def close(self) -> None:
        """Stop renewing. Held messages reappear after at most ``hold_seconds``."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _renew_loop(self) -> None:
        interval = max(1.0, self.hold_seconds / 3)
        while not self._stop.wait(min(interval, 5.0)):
            now = time.monotonic()
            with self._lock:
                due = [(m, s) for m, s, renewed in self._held.values() if now - renewed >= interval]
            for message, scope in due:
                with contextlib.suppress(Exception):
                    self.consumer.change_visibility(message, self.hold_seconds)
                with self._lock:
                    if message.message_id in self._held:
                        self._held[message.message_id] = (message, scope, now)
