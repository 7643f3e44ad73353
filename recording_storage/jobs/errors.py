"""The two ways a job can fail, as the FileTransferer worker needs to tell them apart.

``InvalidMessageError`` (from :mod:`jobs.message`): the message itself can never succeed;
never retry it, let the queue's redrive policy move it to the dead-letter queue.
``JobError``: anything else. ``retryable`` is True when the same message may succeed later
without anybody changing anything (outages, throttling, an interrupted transfer) and False
when a human must act first (unknown instance, wrong DRACOON password, invalid instance
targets, a room the account may not write to).
"""

from __future__ import annotations

from recording_storage.jobs.message import InvalidMessageError


class JobError(Exception):
    """``instance`` is the job's instance domain once known, so callers can log it."""

    instance: str | None = None
    dependency: str | None = None  # s3 | configurator | dracoon, when one is to blame

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


__all__ = ["InvalidMessageError", "JobError"]
