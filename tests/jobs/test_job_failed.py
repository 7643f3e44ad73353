"""``jobs.errors.job_failed``: what the worker does with a failed job, decided in one place.

The worker (workers.file_transferer) counts the failure, settles the message and feeds the
circuit breaker from the ``JobFailed`` alone; these tests pin that table, so a change to it
is a change here and not a drift in the worker."""

from __future__ import annotations

import pytest

from recording_storage.dracoon.client.errors import DracoonAuthError, DracoonConnectionError
from recording_storage.jobs.errors import (
    FAILURE_RULES,
    InvalidMessageError,
    JobError,
    MessageSettlement,
    job_failed,
)
from recording_storage.ops import metrics as m


def raised_from(inner: BaseException, outer: BaseException) -> BaseException:
    """``outer`` raised while handling ``inner`` (``from None`` keeps the context)."""
    try:
        try:
            raise inner
        except Exception:
            raise outer from None
    except BaseException as error:
        return error


def test_every_metrics_reason_has_one_rule():
    assert set(FAILURE_RULES) == set(m.REASONS)


@pytest.mark.parametrize(
    ("error", "cancelled", "reason", "retryable", "settlement"),
    [
        (InvalidMessageError("storage.type", "missing"), False, "invalid_message", False,
         MessageSettlement.KEEP),
        # An invalid message stays invalid, even when the worker is told to stop.
        (InvalidMessageError("storage.type", "missing"), True, "invalid_message", False,
         MessageSettlement.KEEP),
        (JobError("parent room 42 not found", retryable=False), False, "permanent", False,
         MessageSettlement.KEEP),
        (JobError("DRACOON answered 503"), False, "retryable", True,
         MessageSettlement.RETRY_LATER),
        (RuntimeError("a bug"), False, "internal", True,
         MessageSettlement.RETRY_LATER),
        (JobError("upload channel cancelled"), True, "cancelled", True,
         MessageSettlement.RELEASE),
    ],
)  # fmt: skip
def test_the_reason_decides_the_settlement(error, cancelled, reason, retryable, settlement):
    failed = job_failed(error, cancelled=cancelled)
    assert (failed.reason, failed.retryable, failed.settlement) == (reason, retryable, settlement)
    assert failed.error is error
    assert failed.described == f"{type(error).__name__}: {error}"


def test_the_instance_comes_from_what_the_runner_raised():
    error = JobError("1 target(s) failed", retryable=False, instance="a.example.com")
    assert job_failed(error, cancelled=False).instance == "a.example.com"
    invalid = InvalidMessageError("storage.extra", "bucket refused")
    invalid.instance = "b.example.com"
    assert job_failed(invalid, cancelled=False).instance == "b.example.com"
    # Anything else is a bug: it knows no instance, whatever attributes it has.
    bug = RuntimeError("a bug")
    bug.instance = "c.example.com"  # type: ignore[attr-defined]
    assert job_failed(bug, cancelled=False).instance is None


def test_retryable_failures_and_refused_credentials_open_circuits():
    outage = raised_from(DracoonConnectionError("refused"), JobError("rooms"))
    assert job_failed(outage, cancelled=False).opens_circuit
    refused = raised_from(
        DracoonAuthError("POST", "/oauth/token", 401), JobError("login refused", retryable=False)
    )
    assert job_failed(refused, cancelled=False).opens_circuit
    # Permanent for any other reason: a human must fix this job, not the dependency.
    gone = raised_from(DracoonConnectionError("x"), JobError("room gone", retryable=False))
    assert not job_failed(gone, cancelled=False).opens_circuit
    assert not job_failed(RuntimeError("a bug"), cancelled=False).opens_circuit
    assert not job_failed(outage, cancelled=True).opens_circuit  # shutdown: nobody to blame
    invalid = InvalidMessageError("storage.type", "missing")
    assert not job_failed(invalid, cancelled=False).opens_circuit
