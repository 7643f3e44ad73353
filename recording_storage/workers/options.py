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
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

ENV_PREFIX = "RECORDING_STORAGE_"


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

    @classmethod
    def from_settings(
        cls, settings: Any, env: Mapping[str, str] | None = None
    ) -> SupervisionOptions:
        """Defaults, then the configuration keys, then ``RECORDING_STORAGE_<FIELD>`` variables."""
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
        """These options, overridden by ``RECORDING_STORAGE_<FIELD>`` variables."""
        env = os.environ if env is None else env
        changes: dict[str, float | int] = {}
        for field in fields(self):
            raw = env.get(ENV_PREFIX + field.name.upper())
            if raw is None or raw.strip() == "":
                continue
            kind = int if field.type in ("int", int) else float
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(
                    f"{ENV_PREFIX + field.name.upper()}={raw!r} is not a number"
                ) from None
            if value < 0:
                raise ValueError(f"{ENV_PREFIX + field.name.upper()} must not be negative")
            changes[field.name] = value
        return replace(self, **changes)
