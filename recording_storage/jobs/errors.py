"""How a job fails, and the one place that decides whether a failure is worth a retry.

A job's failure leaves the runner as an exception; the worker turns it into a
:class:`JobFailed` with :func:`job_failed` and acts on that value alone (the metrics reason,
the message's settlement, the circuit breaker, what its log record says), never on the
exception.
The answers in it are all made here, so a newcomer who asks "why was this message retried /
left for the DLQ / blamed on S3?" reads one module:

- **May the same message succeed later without a human?** (:func:`is_retryable`).
  ``InvalidMessageError`` (from :mod:`jobs.message`): never, the message itself is wrong;
  the queue's redrive policy moves it to the dead-letter queue. ``JobError``: its
  ``retryable`` is True for outages, throttling, an interrupted transfer, and False when a
  human must act first (unknown instance, wrong DRACOON password, invalid instance targets,
  a room the account may not write to). Errors of the layers below carry their own
  ``retryable`` where only they can know (``S3Error``, ``DracoonApiError`` by HTTP status
  and DRACOON error code); :func:`is_retryable` reads those and decides for the rest.
- **Which metrics reason?** (:func:`classify_failure`): invalid message, cancelled
  (shutdown), retryable, permanent, or internal (a bug: retried like an outage). The reason
  fixes how the message is settled (:data:`FAILURE_RULES`, :class:`MessageSettlement`).
- **Which dependency is to blame?** (:func:`dependency_of`, :func:`dependency_in_chain`):
  s3, configurator, credentials or dracoon, for the worker's circuit breakers
  (:mod:`recording_storage.ops.circuit`). A retryable failure counts against its dependency's
  circuit; a permanent one only when refused credentials are to blame (the same for every job
  of the instance until someone fixes them) - ``JobFailed.opens_circuit``.

docs/reliability.md ("Retryable or permanent") describes the same rules for operators.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from recording_storage.aws.s3 import S3Error
from recording_storage.configurator import ConfiguratorError
from recording_storage.dracoon.client.errors import (
    DracoonApiError,
    DracoonAuthError,
    DracoonConnectionError,
    DracoonError,
    KeyPairError,
    RoomNameError,
    UploadCancelledError,
)
from recording_storage.jobs.message import InvalidMessageError

# The dependencies a failure can blame (the circuit breakers' scopes are built from them).
DEPENDENCY_S3: Final = "s3"
DEPENDENCY_CONFIGURATOR: Final = "configurator"
DEPENDENCY_CREDENTIALS: Final = "credentials"
DEPENDENCY_DRACOON: Final = "dracoon"

# Why a job failed: the only values of the ``reason`` label of the failed-jobs metric.
REASON_INVALID_MESSAGE: Final = "invalid_message"
REASON_RETRYABLE: Final = "retryable"
REASON_PERMANENT: Final = "permanent"
REASON_CANCELLED: Final = "cancelled"
REASON_INTERNAL: Final = "internal"


class JobError(Exception):
    """A job failed; the message says what failed, for which job/file/room, and what to do.

    ``retryable``: may the same message succeed later without anybody changing anything.
    ``instance``: the job's instance domain once known, so the worker can log it.
    ``dependency``: s3 | configurator | credentials | dracoon when one is to blame (else the
    worker searches the exception chain, :func:`dependency_in_chain`).
    """

    instance: str | None = None
    dependency: str | None = None

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        instance: str | None = None,
        dependency: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        if instance is not None:
            self.instance = instance
        if dependency is not None:
            self.dependency = dependency


def is_retryable(exc: BaseException) -> bool:
    """Can the same job succeed later without a human fixing something?"""
    if isinstance(exc, S3Error | JobError):
        return exc.retryable
    if isinstance(exc, DracoonAuthError | KeyPairError | RoomNameError):
        return False
    if isinstance(exc, DracoonApiError):
        return exc.retryable
    if isinstance(exc, DracoonConnectionError | UploadCancelledError | OSError):
        return True
    return isinstance(exc, DracoonError)


def classify_failure(error: BaseException, cancelled: bool) -> str:
    """The metrics reason of a failed job, which also decides how its message is settled
    (workers.file_transferer). Only a ``JobError`` is retryable or permanent: the runner
    turns every expected failure into one, so anything else is a bug (``internal``)."""
    if isinstance(error, InvalidMessageError):
        return REASON_INVALID_MESSAGE
    if cancelled:
        return REASON_CANCELLED
    if isinstance(error, JobError):
        return REASON_RETRYABLE if error.retryable else REASON_PERMANENT
    return REASON_INTERNAL


class MessageSettlement(enum.Enum):
    """What the worker does with a failed job's SQS message (workers.file_transferer)."""

    RELEASE = "release"  # visible again at once, for another worker or replica (shutdown)
    RETRY_LATER = "retry_later"  # visible again after the retry backoff
    KEEP = "keep"  # left alone: the queue's redrive policy moves it to the dead-letter queue


@dataclass(frozen=True)
class FailureRule:
    """What a metrics reason means for the job's message."""

    retryable: bool  # may the same message succeed later without a human
    settlement: MessageSettlement


FAILURE_RULES: Final[dict[str, FailureRule]] = {
    REASON_INVALID_MESSAGE: FailureRule(False, MessageSettlement.KEEP),
    REASON_PERMANENT: FailureRule(False, MessageSettlement.KEEP),
    REASON_RETRYABLE: FailureRule(True, MessageSettlement.RETRY_LATER),
    # A bug: retried like an outage (the worker logs it under 15013 so it stands out).
    REASON_INTERNAL: FailureRule(True, MessageSettlement.RETRY_LATER),
    # Not a failure of the job: the process stops; the message goes to another worker.
    REASON_CANCELLED: FailureRule(True, MessageSettlement.RELEASE),
}
"""The one table of what each metrics reason means (docs/operations.md, "The SQS contract")."""


@dataclass(frozen=True)
class JobFailed:
    """A failed job as the worker acts on it: everything it needs, decided here.

    ``error``: what the runner raised (for the log text only). ``instance``: the job's
    instance domain once the runner knew it. ``opens_circuit``: the failure counts against
    the circuit breaker of the dependency it blames (``ops.circuit.failure_scope``).
    """

    error: BaseException
    reason: str  # the failed-jobs metric's label (REASON_*)
    retryable: bool
    settlement: MessageSettlement
    instance: str | None = None
    opens_circuit: bool = False

    @property
    def described(self) -> str:
        """The error as the worker's log states it: ``Type: message``."""
        return f"{type(self.error).__name__}: {self.error}"


def job_failed(error: BaseException, *, cancelled: bool) -> JobFailed:
    """Classify what a job raised; ``cancelled``: the worker was told to abandon its job.

    The runner raises ``InvalidMessageError`` or ``JobError`` (with ``instance`` set once the
    domain is known); anything else is a bug and names no instance.
    """
    reason = classify_failure(error, cancelled)
    rule = FAILURE_RULES[reason]
    instance = error.instance if isinstance(error, JobError | InvalidMessageError) else None
    opens_circuit = reason == REASON_RETRYABLE or (
        reason == REASON_PERMANENT and dependency_in_chain(error) == DEPENDENCY_CREDENTIALS
    )
    return JobFailed(
        error=error,
        reason=reason,
        retryable=rule.retryable,
        settlement=rule.settlement,
        instance=instance,
        opens_circuit=opens_circuit,
    )


def dependency_of(exc: BaseException) -> str:
    """What one target's failure blames: s3, credentials, or else dracoon."""
    if isinstance(exc, S3Error):
        return DEPENDENCY_S3
    if isinstance(exc, DracoonAuthError | KeyPairError):
        return DEPENDENCY_CREDENTIALS
    return DEPENDENCY_DRACOON


def dependency_in_chain(error: BaseException) -> str | None:
    """The dependency a job failure blames, or None when it is not clear.

    ``error.dependency`` (set where the job knows it) wins; otherwise the exception chain
    (``raise ... from None`` keeps ``__context__``) is searched for an S3, configurator or
    DRACOON error.
    """
    if isinstance(error, JobError) and error.dependency is not None:
        return error.dependency
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, S3Error):
            return DEPENDENCY_S3
        if isinstance(current, ConfiguratorError):
            return DEPENDENCY_CONFIGURATOR
        if isinstance(current, DracoonAuthError | KeyPairError):
            return DEPENDENCY_CREDENTIALS
        if isinstance(current, DracoonError):
            return DEPENDENCY_DRACOON
        current = current.__cause__ or current.__context__
    return None


__all__ = [
    "FAILURE_RULES",
    "FailureRule",
    "InvalidMessageError",
    "JobError",
    "JobFailed",
    "MessageSettlement",
    "classify_failure",
    "dependency_in_chain",
    "dependency_of",
    "is_retryable",
    "job_failed",
]
