"""SQS consumer of the FileTransferer: long poll, visibility extension, delete on success.

The queue is the service's only memory of pending work, so the rules are strict:

* a message is deleted only after its job succeeded (every file in every target);
* while a job runs, a background thread keeps extending the message's visibility, so no other
  worker or replica receives it; if the worker dies, the extensions stop and the message
  reappears after at most one visibility timeout;
* a message that can never succeed is neither deleted nor extended: it reappears until the
  queue's redrive policy moves it to the dead-letter queue (docs/operations.md);
* receive errors (throttling, a missing queue, no network) are logged with code 15005
  (missing credentials: 15003) and retried with exponential backoff: a worker never spins.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)

DEFAULT_WAIT_SECONDS = 20  # SQS's longest long poll: fewest empty receives
DEFAULT_VISIBILITY_SECONDS = 120
MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's limit from the first receive


class _Waitable(Protocol):
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class ErrorCounter(Protocol):
    """Where SQS failures are counted (the service's metrics, or nothing)."""

    def __call__(self, operation: str, code: str) -> None: ...


def _ignore(operation: str, code: str) -> None:
    return None


@dataclass(frozen=True)
class SqsMessage:
    """One received message. The receipt handle is an opaque capability: kept out of repr."""

    message_id: str
    body: str
    receive_count: int
    receipt_handle: str = field(repr=False)


def error_code(error: BaseException) -> str:
    """A short, bounded name for an SQS failure (AWS error code or the exception class)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


def is_missing_queue(code: str) -> bool:
    return code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


class Backoff:
    """Exponential backoff with full jitter, reset by the first success."""

    def __init__(self, initial: float = 1.0, maximum: float = 60.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        ceiling = min(self.maximum, self.initial * (2 ** (self.failures - 1)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    def reset(self) -> None:
        self.failures = 0


class SqsConsumer:
    """Receives one message at a time from ``queue_url`` and settles it."""

    def __init__(
        self,
        client: Any,
        queue_url: str,
        *,
        wait_seconds: int = DEFAULT_WAIT_SECONDS,
        visibility_seconds: int = DEFAULT_VISIBILITY_SECONDS,
        backoff: Backoff | None = None,
        count_error: ErrorCounter = _ignore,
        log_fields: dict[str, object] | None = None,
    ) -> None:
        self.client = client
        self.queue_url = queue_url
        self.wait_seconds = wait_seconds
        self.visibility_seconds = visibility_seconds
        self.backoff = backoff or Backoff()
        self._count_error = count_error
        self._fields = dict(log_fields or {})

    # -- receiving -----------------------------------------------------------------------

    def receive(self, stop: _Waitable) -> SqsMessage | None:
        """Long-poll for one message; ``None`` when none came or the call failed.

        On failure this logs (15005), counts, and sleeps the backoff delay (returning early
        when ``stop`` is set), so callers can simply loop.
        """
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=self.wait_seconds,
                VisibilityTimeout=self.visibility_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except (ClientError, BotoCoreError) as error:
            self._receive_failed(error, stop)
            return None
        self.backoff.reset()
        messages = response.get("Messages") or []
        if not messages:
            return None
        raw = messages[0]
        attributes = raw.get("Attributes") or {}
        return SqsMessage(
            message_id=raw["MessageId"],
            body=raw.get("Body", ""),
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
            receipt_handle=raw["ReceiptHandle"],
        )

    def _receive_failed(self, error: BaseException, stop: _Waitable) -> None:
        code = error_code(error)
        self._count_error("receive", code)
        delay = self.backoff.next_delay()
        log_code = LogCode.SQS_ERROR
        if isinstance(error, NoCredentialsError | PartialCredentialsError):
            log_code = LogCode.AMAZON_SESSION_ERROR
            hint = "no usable AWS credentials (environment, profile or instance role)"
        elif is_missing_queue(code):
            hint = "check workers.FileTransferer.queue and conf/pubsub/sqs/topics.yml"
        elif "Throttl" in code or code == "RequestThrottled":
            hint = "SQS is throttling; backing off"
        else:
            hint = "check the network, credentials and aws.region/sqs endpoint"
        log_event(
            log,
            log_code,
            f"receiving from SQS failed ({code}): {hint}; retrying in {delay:.1f}s",
            **self._fields,
            queue_url=self.queue_url,
            error_code=code,
            retry_in_seconds=round(delay, 1),
            failures=self.backoff.failures,
        )
        stop.wait(delay)

    # -- settling ------------------------------------------------------------------------

    def delete(self, message: SqsMessage) -> bool:
        """Delete a message whose job succeeded. A failure is logged, not raised: the job is
        done, and its redelivery is recognised by the jobs' duplicate detection."""
        return self._call(
            "delete",
            message,
            self.client.delete_message,
            QueueUrl=self.queue_url,
            ReceiptHandle=message.receipt_handle,
        )

    def change_visibility(self, message: SqsMessage, seconds: int) -> bool:
        """Make ``message`` invisible for ``seconds`` from now (0 = visible again now)."""
        return self._call(
            "change_visibility",
            message,
            self.client.change_message_visibility,
            QueueUrl=self.queue_url,
            ReceiptHandle=message.receipt_handle,
            VisibilityTimeout=max(0, min(int(seconds), MAX_VISIBILITY_SECONDS)),
        )

    def _call(self, operation: str, message: SqsMessage, method, **params) -> bool:
        try:
            method(**params)
        except (ClientError, BotoCoreError) as error:
            code = error_code(error)
            self._count_error(operation, code)
            log_event(
                log,
                LogCode.SQS_ERROR,
                f"SQS {operation} failed ({code}) for message {message.message_id}",
                **self._fields,
                message_id=message.message_id,
                queue_url=self.queue_url,
                error_code=code,
            )
            return False
        return True

    def keep_invisible(self, message: SqsMessage, *, job_id: str | None = None):
        """A context manager that extends ``message``'s visibility until it exits."""
        return VisibilityExtender(self, message, job_id=job_id)


class VisibilityExtender:
    """Background thread that renews a message's visibility while its job runs.

    It renews every third of the visibility timeout, so two consecutive failures still leave
    a margin. Used as a context manager around the job.
    """

    def __init__(
        self, consumer: SqsConsumer, message: SqsMessage, *, job_id: str | None = None
    ) -> None:
        self.consumer = consumer
        self.message = message
        self.job_id = job_id
        self.interval = max(1.0, consumer.visibility_seconds / 3)
        self.extensions = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"visibility-{message.message_id}", daemon=True
        )

    def __enter__(self) -> VisibilityExtender:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                extended = self.consumer.change_visibility(
                    self.message, self.consumer.visibility_seconds
                )
            except Exception as error:  # never let the thread die silently mid-transfer
                log_event(
                    log,
                    LogCode.SQS_ERROR,
                    f"extending the visibility of message {self.message.message_id} failed: "
                    f"{type(error).__name__}: {error}",
                    message_id=self.message.message_id,
                    job=self.job_id,
                )
                continue
            if extended:
                self.extensions += 1
                log.debug(
                    "visibility extended",
                    extra={
                        "message_id": self.message.message_id,
                        "job": self.job_id,
                        "seconds": self.consumer.visibility_seconds,
                    },
                )
