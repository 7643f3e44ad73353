"""What a worker process needs from the jobs it runs: the boundary, typed.

The master builds each worker's job objects through a factory (``runner_factory``,
``sharer_factory``, ``probes_factory``) so tests and the real service plug in different
ones: a real ``jobs.runner.JobRunner`` or a fake that sleeps. These protocols say what
either must offer; mypy checks the real ones against them, and a fake that drifts from
them fails the type check instead of a worker at run time.

A job's failure crosses the boundary as an exception, classified in one place
(``jobs.errors``: ``InvalidMessageError``, ``JobError(retryable=...)``, or anything else, a
bug); a success crosses it as a :class:`JobOutcome`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from recording_storage.ops.health import CredentialCheck, ProbeResult


class JobOutcome(Protocol):
    """What the FileTransferer reports of a successful job (``jobs.runner.JobResult``)."""

    @property
    def files(self) -> Sequence[object]:
        """The files in their targets (``jobs.transfer.TransferredFile``: ``key``, ``target``)."""

    @property
    def bytes_transferred(self) -> int: ...

    @property
    def s3_deleted(self) -> bool: ...


class JobRunner(Protocol):
    """Runs one job of a message body; raises on failure (see the module docstring)."""

    def run(
        self,
        body: str,
        *,
        job_id: str,
        cancel: threading.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
        delivery: int | None = None,
    ) -> JobOutcome: ...


class SharerPass(Protocol):
    """The DracoonGlobalSharer's job (``jobs.sharer.GlobalSharer``): one pass over every
    instance; the report's ``keys_set`` and ``failures`` may be counts or lists."""

    def run_once(self) -> object: ...


class HealthProbeSet(Protocol):
    """The HealthProber's job (``ops.health.HealthProbes``): every dependency probed once."""

    def run_all(self) -> Mapping[str, ProbeResult]: ...


class CredentialCheckSet(Protocol):
    """Each instance's DRACOON login checked (``ops.health.CredentialChecks``)."""

    def run(self) -> Mapping[str, CredentialCheck]: ...


# Factories the master passes to its workers; the argument is the service's Settings.
RunnerFactory = Callable[[Any], JobRunner]
SharerFactory = Callable[[Any], SharerPass]
ProbesFactory = Callable[[Any, float], HealthProbeSet]
CredentialsFactory = Callable[[Any, float], CredentialCheckSet]
