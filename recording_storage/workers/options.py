"""Timing knobs of the process model (heartbeats, grace periods, SQS visibility, probes).

Four of them are configuration keys (``sqs.waitTimeSeconds``, ``sqs.visibilityTimeoutSeconds``,
``workers.shutdownGraceSeconds``, ``workers.progressTimeoutSeconds``); the others have
production defaults that suit recordings of minutes to an hour. Each can be overridden by an
environment variable ``RECORDING_STORAGE_<FIELD>`` (upper case), e.g.
``RECORDING_STORAGE_HEARTBEAT_TIMEOUT=30``: operators rarely need them, tests need short ones.
docs/operations.md lists them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

ENV_PREFIX = "RECORDING_STORAGE_"


class OptionsError(ValueError):
    """One or more ``RECORDING_STORAGE_*`` values are unusable; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid environment:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class Bounds:
    """The values a knob accepts. ``off`` is a value outside the range that is still allowed
    (0 = "turned off") and ``why`` says what goes wrong outside the range."""

    minimum: float
    maximum: float
    why: str
    off: float | None = None


# Each knob's range, and what breaks outside it (the message tells the operator).
BOUNDS: dict[str, Bounds] = {
    "heartbeat_interval": Bounds(0.05, 60, "heartbeats must come often enough to be watched"),
    "heartbeat_timeout": Bounds(1, 3600, "shorter kills healthy workers under load"),
    "progress_timeout": Bounds(1, 86400, "a busy worker needs time between steps", off=0),
    "stack_dump_wait": Bounds(0, 60, "the hung worker is killed this long after SIGUSR1"),
    "graceful_timeout": Bounds(0, 3600, "shutdown must end within the platform's grace"),
    "cancel_timeout": Bounds(0, 600, "cancelled transfers must release their messages"),
    "restart_backoff_initial": Bounds(0.05, 3600, "0 restarts a crashing worker in a loop"),
    "restart_backoff_max": Bounds(0.05, 3600, "the longest restart delay"),
    "stable_after": Bounds(0, 86400, "how long a worker must live to count as healthy"),
    "sqs_wait_seconds": Bounds(0, 20, "SQS refuses long polls longer than 20 s"),
    "sqs_visibility_seconds": Bounds(
        2,
        43200,
        "below 2 s a message reappears (and is run twice) before it is extended; "
        "SQS allows at most 12 h",
    ),
    "retry_delay_seconds": Bounds(0, 43200, "SQS allows visibility timeouts up to 12 h"),
    "retry_delay_max_seconds": Bounds(0, 43200, "SQS allows visibility timeouts up to 12 h"),
    "sharer_delay_seconds": Bounds(0, 7 * 86400, "0 uses jobDelayMinutes"),
    "probe_interval": Bounds(0.1, 3600, "probing faster only loads the dependencies"),
    "probe_timeout": Bounds(0.1, 300, "a probe must end before the next round"),
    "probe_max_age": Bounds(1, 86400, "older probe results count as failed"),
    "tick": Bounds(0.01, 5, "0 makes the master spin on one core; above 5 s it reacts late"),
    "progress_interval": Bounds(0.1, 3600, "seconds between progress reports"),
    "circuit_failures": Bounds(1, 1000, "failures in a row that open a circuit", off=0),
    "circuit_probe_interval": Bounds(0.1, 3600, "probing faster only loads the dependency"),
    "circuit_hold_seconds": Bounds(2, 43200, "SQS allows visibility timeouts up to 12 h"),
    "circuit_max_held": Bounds(0, 10000, "held receipt handles are kept in memory"),
    "credentials_interval": Bounds(1, 86400, "each check logs in to every instance"),
    "max_jobs": Bounds(1, 1_000_000, "jobs before a worker is recycled", off=0),
    "max_jobs_jitter": Bounds(0, 1_000_000, "extra jobs before recycling, at random"),
}

# Variables of entrypoint.sh (not read by the Python service, but by the same deployment).
ENTRYPOINT_ENV = {
    "RECORDING_STORAGE_CONFIG_BUCKET",
    "RECORDING_STORAGE_CONFIG_PREFIX",
    "RECORDING_STORAGE_CONFIG_DIR",
    "RECORDING_STORAGE_CONFIG_FILES",
}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


@dataclass(frozen=True)
class SupervisionOptions:
    heartbeat_interval: float = 5.0
    """Seconds between two heartbeats of a worker process."""
    heartbeat_timeout: float = 60.0
    """A worker without a heartbeat for this long is hung: the master kills and replaces it."""
    progress_timeout: float = 600.0
    """A worker that beats but whose work counter stands still this long while it is busy
    (or, for a FileTransferer, polling SQS) is hung too; 0 turns the check off."""
    stack_dump_wait: float = 2.0
    """How long the master waits for a hung worker's stack dump (SIGUSR1) before SIGKILL."""
    graceful_timeout: float = 60.0
    """On SIGTERM/SIGINT, how long running transfers may take to finish before cancellation."""
    cancel_timeout: float = 20.0
    """After cancelling, how long a worker gets to release its message before SIGKILL."""
    restart_backoff_initial: float = 1.0
    """Delay before restarting a worker that died soon after it started; doubles each time."""
    restart_backoff_max: float = 60.0
    """Longest delay between two restarts of a crash-looping worker."""
    stable_after: float = 60.0
    """A worker that lived this long is healthy again: its next restart has no delay."""
    sqs_wait_seconds: int = 20
    """SQS long-poll duration (0-20)."""
    sqs_visibility_seconds: int = 300
    """Visibility of a received message; renewed every third of it while the job runs."""
    retry_delay_seconds: int = 30
    """A retryable failure makes the message visible again after this, doubling per receive."""
    retry_delay_max_seconds: int = 900
    """Longest delay before a failed job is retried."""
    sharer_delay_seconds: float = 0.0
    """Overrides workers.DracoonGlobalSharer.jobDelayMinutes when > 0 (tests)."""
    probe_interval: float = 30.0
    """Seconds between two rounds of health probes (SQS, S3, configurator, DRACOON)."""
    probe_timeout: float = 5.0
    """Timeout of each health probe."""
    probe_max_age: float = 120.0
    """A probe result older than this counts as failed (the prober is stuck or dead)."""
    tick: float = 0.5
    """How often the master's supervision loop wakes up when nothing happens."""
    progress_interval: float = 5.0
    """Seconds between two progress reports (15006) when reportLevel is ``chunk``."""
    max_jobs: int = 0
    """Recycling, a safety net against slow leaks: a FileTransferer exits cleanly after this
    many jobs (plus up to ``max_jobs_jitter``) and the master starts a fresh one at once;
    0 = never (the default)."""
    max_jobs_jitter: int = 0
    """A random 0..this many more jobs per worker process, so workers do not recycle together."""
    circuit_failures: int = 5
    """Consecutive failures (retryable, or refused credentials) of one scope that open its
    circuit breaker (the worker stops taking jobs of that scope and probes it instead);
    0 turns it off."""
    circuit_probe_interval: float = 30.0
    """Seconds between two probes of a dependency whose circuit is open."""
    circuit_hold_seconds: int = 300
    """Visibility given to a message held back by an open circuit; renewed while held."""
    circuit_max_held: int = 100
    """Messages one worker holds back at most; more are returned with the hold visibility."""
    credentials_interval: float = 300.0
    """Seconds between two checks of every instance's DRACOON login and key-pair password."""

    @classmethod
    def from_settings(
        cls, settings: Any, env: Mapping[str, str] | None = None
    ) -> SupervisionOptions:
        """Defaults, then the configuration keys, then ``RECORDING_STORAGE_<FIELD>`` variables.

        Raises :class:`OptionsError` naming every unusable variable (and combination)."""
        options = cls()
        from_keys: dict[str, float | int] = {}
        sqs = getattr(settings, "sqs", None)
        if sqs is not None:
            from_keys["sqs_wait_seconds"] = int(sqs.wait_time_seconds)
            from_keys["sqs_visibility_seconds"] = int(sqs.visibility_timeout_seconds)
        grace = getattr(getattr(settings, "workers", None), "shutdown_grace_seconds", None)
        if grace is not None:
            from_keys["graceful_timeout"] = float(grace)
        progress = getattr(getattr(settings, "workers", None), "progress_timeout_seconds", None)
        if progress is not None:
            from_keys["progress_timeout"] = float(progress)
        return replace(options, **from_keys).with_env(env)

    def with_env(self, env: Mapping[str, str] | None = None) -> SupervisionOptions:
        """These options, overridden by ``RECORDING_STORAGE_<FIELD>`` variables, validated."""
        env = os.environ if env is None else env
        changes: dict[str, float | int] = {}
        problems: list[str] = []
        for field in fields(self):
            name = env_name(field.name)
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            value, problem = _parse(field.name, field.type in ("int", int), raw)
            if problem:
                problems.append(f"{name}={raw!r}: {problem}")
            else:
                changes[field.name] = value
        options = replace(self, **changes)
        problems.extend(options.combination_problems())
        if problems:
            raise OptionsError(problems)
        return options

    def combination_problems(self) -> list[str]:
        """Values that are fine alone but break each other (named by their variables)."""
        problems = []

        def rule(ok: bool, first: str, second: str, what: str) -> None:
            if not ok:
                problems.append(
                    f"{env_name(first)}={getattr(self, first):g} and "
                    f"{env_name(second)}={getattr(self, second):g}: {what}"
                )

        rule(
            self.heartbeat_timeout > self.heartbeat_interval,
            "heartbeat_timeout",
            "heartbeat_interval",
            "the timeout must be longer than the heartbeat interval, or healthy workers are killed",
        )
        rule(
            self.progress_timeout == 0 or self.progress_timeout > self.heartbeat_interval,
            "progress_timeout",
            "heartbeat_interval",
            "progress is reported with the heartbeats; the timeout must be longer",
        )
        rule(
            self.restart_backoff_max >= self.restart_backoff_initial,
            "restart_backoff_max",
            "restart_backoff_initial",
            "the longest delay must not be below the first",
        )
        rule(
            self.retry_delay_max_seconds >= self.retry_delay_seconds,
            "retry_delay_max_seconds",
            "retry_delay_seconds",
            "the longest delay must not be below the first",
        )
        rule(
            self.probe_max_age > self.probe_interval + self.probe_timeout,
            "probe_max_age",
            "probe_interval",
            "results would expire before the next round arrives (probe_max_age must exceed "
            "probe_interval + probe_timeout)",
        )
        return problems


def _parse(name: str, whole: bool, raw: str) -> tuple[float | int, str | None]:
    """The value of knob ``name`` from ``raw``, or a message saying why it is unusable."""
    try:
        value: float | int = int(raw.strip()) if whole else float(raw.strip())
    except ValueError:
        return 0, "must be a whole number" if whole else "must be a number of seconds"
    if value != value or value in (float("inf"), float("-inf")):  # NaN, inf
        return 0, "must be a finite number"
    bounds = BOUNDS.get(name)
    if bounds is None:
        return value, None
    if bounds.off is not None and value == bounds.off:
        return value, None
    if value < 0:
        return value, "must not be negative"
    if not bounds.minimum <= value <= bounds.maximum:
        off = f" (or {bounds.off:g} to turn it off)" if bounds.off is not None else ""
        return value, (
            f"must be between {bounds.minimum:g} and {bounds.maximum:g}{off}: {bounds.why}"
        )
    return value, None


def check_environment(
    env: Mapping[str, str] | None = None, settings: Any = None
) -> tuple[list[str], list[str]]:
    """``(problems, warnings)`` for every ``RECORDING_STORAGE_*`` variable in ``env``.

    Covers the supervision knobs (each alone, and in combination on top of the defaults or of
    ``settings``' keys) and
    entrypoint.sh's ``RECORDING_STORAGE_CONFIG_*``; a variable that matches nothing is a
    warning (a typo would otherwise be ignored silently). Used by ``config check``; ``serve``
    refuses to start on the same problems.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    warnings: list[str] = []
    base = SupervisionOptions() if settings is None else None
    try:
        if base is None:
            SupervisionOptions.from_settings(settings, env)
        else:
            base.with_env(env)
    except OptionsError as error:
        problems.extend(error.problems)
    known = {env_name(field.name) for field in fields(SupervisionOptions)} | ENTRYPOINT_ENV
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known:
            warnings.append(f"environment variable {name} matches no option and is ignored")
    bucket = env.get("RECORDING_STORAGE_CONFIG_BUCKET", "")
    if bucket and not _BUCKET.fullmatch(bucket):
        problems.append(
            f"RECORDING_STORAGE_CONFIG_BUCKET={bucket!r}: must be an S3 bucket name "
            "(3-63 lower-case letters, digits, dots and hyphens)"
        )
    prefix = env.get("RECORDING_STORAGE_CONFIG_PREFIX", "")
    if prefix.startswith("/") or "//" in prefix:
        problems.append(
            f"RECORDING_STORAGE_CONFIG_PREFIX={prefix!r}: S3 keys have no leading or double "
            "slash; write it as recording-storage/prod"
        )
    for name in env.get("RECORDING_STORAGE_CONFIG_FILES", "").split():
        path = name.rstrip("?")
        if not path or path.startswith("/") or ".." in path.split("/"):
            problems.append(
                f"RECORDING_STORAGE_CONFIG_FILES: {name!r} must be a relative path inside the "
                "prefix (no leading / and no ..), with an optional trailing ?"
            )
    return problems, warnings
