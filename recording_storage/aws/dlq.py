"""The dead-letter queue as an operator sees it: list, replay to the main queue, purge.

SQS has no "peek": the only way to read a message is to receive it, which hides it for a
visibility timeout and adds one to its ``ApproximateReceiveCount``. So every command here
*holds* the messages it looks at (receives them with ``hold_seconds`` of visibility) and,
unless it deletes them, *releases* them again (visibility 0) before it returns. A command
that dies in between leaves them hidden for at most ``hold_seconds``; nothing is lost.

Replaying is "send a copy to the main queue, then delete the original from the DLQ", in that
order: a failure in between leaves the job in both queues, never in neither. Running a job
twice is harmless (the duplicate rule in docs/configuration.md), losing it is not. A send
that got no answer may still have been stored by SQS, so it is reported as "unknown" and the
original stays in the DLQ for the operator to decide.

SQS keeps no record of why a message was dead-lettered and does not let a consumer change a
stored message's attributes, so the "last error" of a job comes from two places only: for a
message that can never be valid, the same parser the worker uses names the bad field again
(deterministic, computed here); for every other failure, the worker's 15007/15009 log
records carry the message id as ``job`` (the id is kept when SQS moves a message to the DLQ).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from recording_storage.aws.sqs import error_code

BATCH = 10  # SQS's maximum for ReceiveMessage and the *Batch calls
DEFAULT_HOLD_SECONDS = 300
DEFAULT_LIMIT = 1000


class DeadLetterError(Exception):
    """A DLQ operation that cannot go on; the message says what to do.

    ``retryable``: an SQS call failed (network, throttling, permissions may be fixed by then);
    otherwise the set-up is wrong (no redrive policy, unknown queue) and needs a fix.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


# A message body -> (the job's summary, None) or (None, why the body is not a valid job).
JobDecoder = Callable[[str], tuple[dict[str, Any] | None, str | None]]


@dataclass(frozen=True)
class DeadLetter:
    """One received DLQ message. The receipt handle is a capability: kept out of repr."""

    message_id: str
    body: str = field(repr=False)
    receive_count: int
    sent_at: str | None
    first_received_at: str | None
    source_queue_arn: str | None
    message_attributes: dict[str, Any] = field(repr=False)
    receipt_handle: str = field(repr=False)

    def describe(self, decode: JobDecoder, *, with_body: bool = False) -> dict[str, Any]:
        """What ``dlq list`` prints: the decoded job and where its last error can be found.

        ``decode`` reads the body the way the worker does (``jobs.message.summarize``); the
        command passes it in, so this SQS layer does not depend on the jobs layer."""
        job, last_error = decode(self.body)
        described: dict[str, Any] = {
            "message_id": self.message_id,
            "receive_count": self.receive_count,
            "sent_at": self.sent_at,
            "first_received_at": self.first_received_at,
            "source_queue_arn": self.source_queue_arn,
            "job": job,
            "last_error": last_error,
            "last_error_source": "message parser"
            if last_error
            else f"service logs: records with job={self.message_id} (codes 15007/15009)",
        }
        if with_body:
            described["body"] = self.body
        return described


def _timestamp(milliseconds: str | None) -> str | None:
    if not milliseconds:
        return None
    try:
        moment = datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _queue_url_from_arn(client: Any, arn: str) -> str:
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        raise DeadLetterError(f"the redrive policy names {arn!r}, which is not an SQS queue ARN")
    account, name = parts[4], parts[5]
    try:
        answer = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
        return str(answer["QueueUrl"])
    except (ClientError, BotoCoreError) as error:
        raise DeadLetterError(
            f"the dead-letter queue {arn} from the redrive policy cannot be found "
            f"({error_code(error)}); pass --dlq-url"
        ) from error


def find_dead_letter_queue(client: Any, queue_url: str) -> str:
    """The DLQ's URL, from the main queue's ``RedrivePolicy`` attribute."""
    try:
        attributes = client.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
    except (ClientError, BotoCoreError) as error:
        raise DeadLetterError(
            f"cannot read the redrive policy of {queue_url} ({error_code(error)}); check the "
            "queue URL and sqs:GetQueueAttributes, or pass --dlq-url"
        ) from error
    policy = attributes.get("RedrivePolicy")
    if not policy:
        raise DeadLetterError(
            f"{queue_url} has no redrive policy, so it has no dead-letter queue: give it one "
            "(docs/operations.md, 'Dead-letter queue') or pass --dlq-url"
        )
    try:
        arn = json.loads(policy)["deadLetterTargetArn"]
    except (ValueError, KeyError, TypeError):
        raise DeadLetterError(
            f"the redrive policy of {queue_url} is not understood: {policy!r}; pass --dlq-url"
        ) from None
    return _queue_url_from_arn(client, str(arn))


class DeadLetterQueue:
    """Operations on one DLQ whose jobs belong to the main queue ``queue_url``."""

    def __init__(
        self,
        client: Any,
        queue_url: str,
        dlq_url: str,
        *,
        hold_seconds: int = DEFAULT_HOLD_SECONDS,
    ) -> None:
        self.client = client
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self.hold_seconds = hold_seconds

    @classmethod
    def discover(
        cls, client: Any, queue_url: str, dlq_url: str | None = None, **options: Any
    ) -> DeadLetterQueue:
        return cls(
            client, queue_url, dlq_url or find_dead_letter_queue(client, queue_url), **options
        )

    def approximate_counts(self) -> dict[str, int]:
        """SQS's approximate visible / in-flight counts of the DLQ."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self._call(
            "read the size of",
            self.client.get_queue_attributes,
            QueueUrl=self.dlq_url,
            AttributeNames=names,
        ).get("Attributes", {})
        return {
            "visible": int(attributes.get(names[0], 0)),
            "in_flight": int(attributes.get(names[1], 0)),
        }

    # -- holding and releasing -------------------------------------------------------------

    def hold(self, limit: int = DEFAULT_LIMIT) -> list[DeadLetter]:
        """Receive up to ``limit`` messages and keep them hidden for ``hold_seconds``.

        Long polls of one second: on a standard queue a short poll samples only some of
        SQS's servers and can answer "empty" while messages exist. A message seen twice (its
        hold ran out) is kept once, with its newest receipt handle (the one SQS honours); a
        batch of only such messages ends the collection, so a hold shorter than the
        collection cannot make it go round forever.
        """
        held: dict[str, DeadLetter] = {}
        while len(held) < limit:
            response = self._call(
                "receive from",
                self.client.receive_message,
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=min(BATCH, limit - len(held)),
                WaitTimeSeconds=1,
                VisibilityTimeout=self.hold_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages") or []
            letters = [_letter(raw) for raw in messages]
            new = [x for x in letters if x.message_id not in held]
            held.update((x.message_id, x) for x in letters)
            if not new:
                break
        return list(held.values())

    def release(self, letters: Iterable[DeadLetter]) -> list[str]:
        """Make held messages visible again; returns the ids SQS did not release."""
        failed: list[str] = []
        letters = list(letters)
        for start in range(0, len(letters), BATCH):
            chunk = letters[start : start + BATCH]
            try:
                response = self.client.change_message_visibility_batch(
                    QueueUrl=self.dlq_url,
                    Entries=[
                        {
                            "Id": str(index),
                            "ReceiptHandle": letter.receipt_handle,
                            "VisibilityTimeout": 0,
                        }
                        for index, letter in enumerate(chunk)
                    ],
                )
            except (ClientError, BotoCoreError):
                failed.extend(letter.message_id for letter in chunk)
                continue
            failed.extend(
                chunk[int(entry["Id"])].message_id for entry in response.get("Failed", [])
            )
        return failed

    # -- replay and purge ----------------------------------------------------------------------

    def replay(self, letter: DeadLetter) -> dict[str, Any]:
        """Send a copy of ``letter`` to the main queue, then delete it from the DLQ.

        Returns ``{"message_id", "outcome", "new_message_id", "error"}`` where ``outcome`` is
        ``replayed``; ``sent_not_deleted`` (the job is in both queues: harmless, it runs
        once more if replayed again); ``send_failed`` (nothing changed, the letter is
        released); or ``send_unknown`` (no answer: SQS may have stored the copy, so the
        original is released and stays in the DLQ -- check the main queue before replaying
        it again).
        """
        result: dict[str, Any] = {"message_id": letter.message_id, "new_message_id": None}
        params: dict[str, Any] = {"QueueUrl": self.queue_url, "MessageBody": letter.body}
        if letter.message_attributes:
            params["MessageAttributes"] = letter.message_attributes
        try:
            sent = self.client.send_message(**params)
        except (ClientError, BotoCoreError) as error:
            self.release([letter])
            # An error answer to the only attempt: SQS stored nothing. No answer at all, or an
            # error after botocore retried (an earlier attempt may have been stored): unknown.
            outcome = "send_unknown" if _may_have_acted(error) else "send_failed"
            return {**result, "outcome": outcome, "error": error_code(error)}
        result["new_message_id"] = sent.get("MessageId")
        try:
            self.client.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=letter.receipt_handle)
        except (ClientError, BotoCoreError) as error:
            return {**result, "outcome": "sent_not_deleted", "error": error_code(error)}
        return {**result, "outcome": "replayed", "error": None}

    def purge(self) -> None:
        """Delete every message of the DLQ (SQS ``PurgeQueue``: at most once per 60 s)."""
        self._call("purge", self.client.purge_queue, QueueUrl=self.dlq_url)

    def _call(self, what: str, method: Any, **params: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = method(**params)
            return answer
        except (ClientError, BotoCoreError) as error:
            raise DeadLetterError(
                f"cannot {what} the dead-letter queue {self.dlq_url} ({error_code(error)}: "
                f"{error}); check the URL, the network and the IAM permissions "
                "(deploy/iam/dlq-operator-policy.json)",
                retryable=True,
            ) from error


def _may_have_acted(error: BaseException) -> bool:
    if not isinstance(error, ClientError):
        return True
    metadata = error.response.get("ResponseMetadata") or {}
    return int(metadata.get("RetryAttempts", 0) or 0) > 0


def _letter(raw: dict[str, Any]) -> DeadLetter:
    attributes = raw.get("Attributes") or {}
    return DeadLetter(
        message_id=raw["MessageId"],
        body=raw.get("Body", ""),
        receive_count=int(attributes.get("ApproximateReceiveCount", 0) or 0),
        sent_at=_timestamp(attributes.get("SentTimestamp")),
        first_received_at=_timestamp(attributes.get("ApproximateFirstReceiveTimestamp")),
        source_queue_arn=attributes.get("DeadLetterQueueSourceArn"),
        message_attributes=dict(raw.get("MessageAttributes") or {}),
        receipt_handle=raw["ReceiptHandle"],
    )
