"""What a worker process needs from the jobs it runs: the boundary, typed.

The master builds each worker's job objects through a factory (``runner_factory``,
``sharer_factory``, ``probes_factory``, ``credentials_factory``) so tests and the real service
plug in different ones: a real ``jobs.runner.JobRunner`` or a fake that sleeps. These
protocols say what either must offer; mypy checks the real ones against them, and a fake that
drifts from them fails the type check instead of a worker at run time.

A success crosses the boundary as a :class:`JobOutcome`. A failure crosses it as an
exception (``InvalidMessageError``, ``JobError(retryable=...)``, or anything else, a bug),
which the worker turns into a ``jobs.errors.JobFailed`` with ``jobs.errors.job_failed``: the
one place that decides retry or permanent, the message's settlement and the log code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Sized
from typing import Protocol

from recording_storage.config import Settings
from recording_storage.deadlines import CancelSignal
from recording_storage.ops.health import CredentialCheck, ProbeResult


class TransferredFileView(Protocol):
    """One file of a successful job as the worker reports it (``jobs.settle.TransferredFile``)."""

    @property
    def key(self) -> str:
        """The S3 key it came from."""

    @property
    def target(self) -> str:
        """The room path it is in (below the instance's parent room)."""


class JobOutcome(Protocol):
    """What the FileTransferer reports of a successful job (``jobs.runner.JobResult``)."""

    @property
    def files(self) -> Sequence[TransferredFileView]: ...

    @property
    def bytes_transferred(self) -> int: ...

    @property
    def s3_deleted(self) -> bool: ...


class JobRunner(Protocol):
    """Runs one job of a message body; raises on failure (see the module docstring).

    ``cancel``: the worker's cancel flag, set by the master to abandon the job at shutdown.
    ``progress(done, total)``: bytes moved so far; the worker's proof of progress.
    ``delivery``: the SQS receive count.
    """

    def run(
        self,
        body: str,
        *,
        job_id: str,
        cancel: CancelSignal | None = None,
        progress: Callable[[int, int], None] | None = None,
        delivery: int | None = None,
    ) -> JobOutcome: ...


class SharerOutcome(Protocol):
    """What the DracoonGlobalSharer reports of one pass (``jobs.sharer.SharerReport``)."""

    @property
    def keys_set(self) -> int: ...

    @property
    def failures(self) -> Sized:
        """The instances that failed in this pass (a pass with any is counted an error)."""


class SharerPass(Protocol):
    """The DracoonGlobalSharer's job (``jobs.sharer.GlobalSharer``): one pass over every
    instance."""

    def run_once(self) -> SharerOutcome: ...


class HealthProbeSet(Protocol):
    """The HealthProber's job (``ops.health.HealthProbes``): every dependency probed once."""

    def run_all(self) -> Mapping[str, ProbeResult]: ...


class CredentialCheckSet(Protocol):
    """Each instance's DRACOON login checked (``ops.health.CredentialChecks``)."""

    def run(self) -> Mapping[str, CredentialCheck]: ...


# Factories the master passes to its workers; the first argument is the service's Settings,
# the second (probes) the timeout of one probe in seconds.
RunnerFactory = Callable[[Settings], JobRunner]
SharerFactory = Callable[[Settings], SharerPass]
ProbesFactory = Callable[[Settings, float], HealthProbeSet]
CredentialsFactory = Callable[[Settings, float], CredentialCheckSet]
