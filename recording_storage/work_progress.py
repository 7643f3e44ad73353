"""A per-process counter of work done, so the master can tell "alive" from "making progress".

A heartbeat only proves that the heartbeat thread runs. A worker whose work thread is
stuck (a lock never released, a socket read that never returns) keeps beating. So the
heartbeat also carries this counter, and the master replaces a worker that is busy but
whose counter has not moved for ``progress_timeout`` seconds (workers.master).

The counter moves whenever work is done, from any thread of the worker:

- every turn of a worker's main loop (an idle FileTransferer's SQS long poll, a sharer
  pass, a probe round);
- the job's progress callback, when the bytes done change (workers.file_transferer);
- every DRACOON answer and every S3 answer that is not a server failure (the hooks below,
  attached by the master's runner and sharer factories): a job spends most of its time in
  these calls, so a slow but living transfer advances with each request it completes;
- every piece of an S3 object the read-once source receives (jobs.tee).

Only differences matter, never the absolute value; it starts wherever the fork left it.
"""

from __future__ import annotations

import itertools
from typing import Any


class WorkProgress:
    """A monotonic counter; ``advance`` is cheap and safe from any thread."""

    def __init__(self) -> None:
        # ``next()`` on an itertools.count is atomic under the GIL: no lock needed.
        self._steps = itertools.count(1)
        self._value = 0

    def advance(self) -> None:
        self._value = next(self._steps)

    @property
    def value(self) -> int:
        return self._value


WORK_PROGRESS = WorkProgress()


def advance() -> None:
    """Record one step of work in this process."""
    WORK_PROGRESS.advance()


class ProgressEvents:
    """Wraps a DRACOON client's ``events`` hook: every answer below 500 is a step of work.

    A 5xx or a missing answer is not progress: a server failing forever must not keep a
    stuck job alive (the retry and deadline rules end such calls).
    """

    def __init__(self, inner: Any = None) -> None:
        self._inner = inner

    def on_response(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        if 0 < status < 500:
            advance()
        hook = getattr(self._inner, "on_response", None)
        if hook is not None:
            hook(method, endpoint, status, seconds)

    def on_retry(self, method: str, endpoint: str, reason: str) -> None:
        hook = getattr(self._inner, "on_retry", None)
        if hook is not None:
            hook(method, endpoint, reason)


def attach_boto3_progress(client: Any) -> None:
    """Count every answer of a boto3 client below 500 as a step of work (botocore's
    ``after-call`` event sees each parsed answer once, after botocore's own retries)."""
    service_id = client.meta.service_model.service_id.hyphenize()

    def after_call(http_response: Any = None, **_: Any) -> None:
        status = getattr(http_response, "status_code", 0) or 0
        if 0 < status < 500:
            advance()

    client.meta.events.register(f"after-call.{service_id}", after_call)
