"""How a job fails, and the one place that decides whether a failure is worth a retry.

The worker needs three answers about a failed job; they are all made here, so a newcomer
who asks "why was this message retried / left for the DLQ / blamed on S3?" reads one module:

- **May the same message succeed later without a human?** (:func:`is_retryable`).
  ``InvalidMessageError`` (from :mod:`jobs.message`): never, the message itself is wrong;
  the queue's redrive policy moves it to the dead-letter queue. ``JobError``: its
  ``retryable`` is True for outages, throttling, an interrupted transfer, and False when a
  human must act first (unknown instance, wrong DRACOON password, invalid instance targets,
  a room the account may not write to). Errors of the layers below carry their own
  ``retryable`` where only they can know (``S3Error``, ``DracoonApiError`` by HTTP status
  and DRACOON error code); :func:`is_retryable` reads those and decides for the rest.
- **Which metrics reason and settlement?** (:func:`classify_failure`): invalid message,
  cancelled (shutdown), retryable, permanent, or internal (a bug: retried like an outage).
- **Which dependency is to blame?** (:func:`dependency_of`, :func:`dependency_in_chain`):
  s3, configurator, credentials or dracoon, for the worker's circuit breakers
  (:mod:`recording_storage.ops.circuit`).

docs/reliability.md ("Retryable or permanent") describes the same rules for operators.
"""

from __future__ import annotations

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
    "InvalidMessageError",
    "JobError",
    "classify_failure",
    "dependency_in_chain",
    "dependency_of",
    "is_retryable",
]
