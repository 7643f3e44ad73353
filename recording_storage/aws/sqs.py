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

Batching (``sqs.receiveBatch`` > 1, off by default): one ReceiveMessage takes up to that many
messages; the worker runs them one after another. Every message the consumer holds -- the
running one, the ones waiting their turn, and the finished ones whose delete is still
pending -- is kept invisible by the running job's extender (ChangeMessageVisibilityBatch),
and the deletes of finished jobs go out together (DeleteMessageBatch) when the batch is
done, ten are pending, or the consumer is closed. A message is still deleted only after its
job succeeded; a worker that dies holding finished-but-undeleted messages lets them
reappear, and their redelivery finds the files (jobs.dedup). ``close`` sends the pending
deletes and makes the waiting messages visible again at once. Why off by default: a worker
holding a batch holds jobs another worker could run now; with large recordings that costs
parallelism, with many small ones it saves two SQS requests per job.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
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
SQS_BATCH_LIMIT = 10  # the most ReceiveMessage, DeleteMessageBatch and friends take at once
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
        receive_batch: int = 1,
    ) -> None:
        self.client = client
        self.receive_batch = max(1, min(int(receive_batch), SQS_BATCH_LIMIT))
        self._waiting: list[SqsMessage] = []  # received, not started (batching only)
        self._finished: list[SqsMessage] = []  # succeeded, delete pending (batching only)
        self._current: SqsMessage | None = None
        self._renewed_at = 0.0  # monotonic: the held messages' visibility last set/renewed
        self._held_lock = threading.Lock()
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
        when ``stop`` is set), so callers can simply loop. With batching, a message already
        received waits its turn here, and the pending deletes go out before the next poll.
        """
        with self._held_lock:
            waiting = self._waiting.pop(0) if self._waiting else None
            if waiting is not None:
                self._current = waiting
        if waiting is not None:
            # Short jobs never give their extender a turn: renew the batch here once a
            # third of the visibility timeout has passed since it was last renewed.
            if time.monotonic() - self._renewed_at >= self.visibility_seconds / 3:
                self.extend_held(self.visibility_seconds)
            return waiting
        self.flush_deletes()
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.receive_batch,
                WaitTimeSeconds=self.wait_seconds,
                VisibilityTimeout=self.visibility_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except (ClientError, BotoCoreError) as error:
            self._receive_failed(error, stop)
            return None
        self.backoff.reset()
        messages = [_message(raw) for raw in response.get("Messages") or []]
        if not messages:
            return None
        with self._held_lock:
            self._current, self._waiting = messages[0], messages[1:]
            self._renewed_at = time.monotonic()
        return messages[0]

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
        done, and its redelivery is recognised by the jobs' duplicate detection. With
        batching the delete waits for the rest of the batch (kept invisible meanwhile)."""
        if self.receive_batch > 1:
            with self._held_lock:
                self._drop_current(message)
                self._finished.append(message)
                due = not self._waiting or len(self._finished) >= SQS_BATCH_LIMIT
            return self.flush_deletes() if due else True
        return self._call(
            "delete",
            message,
            self.client.delete_message,
            QueueUrl=self.queue_url,
            ReceiptHandle=message.receipt_handle,
        )

    def flush_deletes(self) -> bool:
        """Delete the finished messages whose delete is pending (one DeleteMessageBatch per
        ten); False when any of them failed (logged: their redelivery finds the files)."""
        with self._held_lock:
            finished, self._finished = self._finished, []
        return self._batch("delete", self.client.delete_message_batch, finished, {})

    def close(self) -> None:
        """Send the pending deletes and give the messages not started back at once."""
        self.flush_deletes()
        with self._held_lock:
            waiting, self._waiting = self._waiting, []
        self._batch("release", self.client.change_message_visibility_batch, waiting,
                    {"VisibilityTimeout": 0})  # fmt: skip

    def extend_held(self, seconds: int) -> bool:
        """Renew the visibility of every message this consumer holds (batching): the running
        one, the ones waiting their turn and the finished ones whose delete is pending."""
        with self._held_lock:
            held = [m for m in (self._current,) if m is not None]
            held += self._waiting + self._finished
            self._renewed_at = time.monotonic()
        return self._batch("change_visibility", self.client.change_message_visibility_batch,
                           held, {"VisibilityTimeout": _visibility(seconds)})  # fmt: skip

    def _drop_current(self, message: SqsMessage) -> None:
        if self._current is not None and self._current.message_id == message.message_id:
            self._current = None

    def _batch(
        self,
        operation: str,
        method: Callable[..., Any],
        messages: list[SqsMessage],
        extra: dict[str, Any],
    ) -> bool:
        ok = True
        for first in range(0, len(messages), SQS_BATCH_LIMIT):
            part = messages[first : first + SQS_BATCH_LIMIT]
            entries = [{"Id": str(i), "ReceiptHandle": m.receipt_handle, **extra}
                       for i, m in enumerate(part)]  # fmt: skip
            try:
                answer = method(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as error:
                failed = [(m, error_code(error)) for m in part]
            else:
                failed = [(part[int(f["Id"])], str(f.get("Code") or "BatchEntryFailed"))
                          for f in answer.get("Failed") or []]  # fmt: skip
            for message, code in failed:
                ok = False
                self._report_failure(operation, message, code)
        return ok

    def change_visibility(self, message: SqsMessage, seconds: int) -> bool:
        """Make ``message`` invisible for ``seconds`` from now (0 = visible again now)."""
        with self._held_lock:
            self._drop_current(message)
        return self._call(
            "change_visibility",
            message,
            self.client.change_message_visibility,
            QueueUrl=self.queue_url,
            ReceiptHandle=message.receipt_handle,
            VisibilityTimeout=_visibility(seconds),
        )

    def _call(
        self, operation: str, message: SqsMessage, method: Callable[..., Any], **params: Any
    ) -> bool:
        try:
            method(**params)
        except (ClientError, BotoCoreError) as error:
            self._report_failure(operation, message, error_code(error))
            return False
        return True

    def _report_failure(self, operation: str, message: SqsMessage, code: str) -> None:
        """Count and log (15005) one message's failed SQS call, single or in a batch."""
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

    def keep_invisible(
        self, message: SqsMessage, *, job_id: str | None = None
    ) -> VisibilityExtender:
        """A context manager that extends ``message``'s visibility until it exits."""
        return VisibilityExtender(self, message, job_id=job_id)


def _visibility(seconds: int) -> int:
    return max(0, min(int(seconds), MAX_VISIBILITY_SECONDS))


def _message(raw: dict[str, Any]) -> SqsMessage:
    attributes = raw.get("Attributes") or {}
    return SqsMessage(
        message_id=raw["MessageId"],
        body=raw.get("Body", ""),
        # 0 when SQS did not say: unknown is never taken for a first delivery (jobs.transfer)
        receive_count=int(attributes.get("ApproximateReceiveCount", 0) or 0),
        receipt_handle=raw["ReceiptHandle"],
    )


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
                if self.consumer.receive_batch > 1:  # everything held, in batches
                    extended = self.consumer.extend_held(self.consumer.visibility_seconds)
                else:
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
                log.debug(
                    "visibility extended",
                    extra={
                        "message_id": self.message.message_id,
                        "job": self.job_id,
                        "seconds": self.consumer.visibility_seconds,
                    },
                )
