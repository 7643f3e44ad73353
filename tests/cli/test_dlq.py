"""``recording-storage dlq list|replay|purge`` against the moto server.

Messages reach the dead-letter queue the way they do in production: the main queue has a
redrive policy (maxReceiveCount 1) and a message received more often than that is moved by
the server, not put there by the test. The command runs as a real process, like an
operator runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import pytest
from botocore.exceptions import EndpointConnectionError

from recording_storage.aws.dlq import DeadLetterError, DeadLetterQueue, find_dead_letter_queue
from tests.support.paths import PROJECT_ROOT

VALID_JOB = (PROJECT_ROOT / "scripts" / "demo" / "message.json").read_text()
INVALID_JOB = '{"storage": {"type": "dracoon"}}'


@dataclass
class Queues:
    sqs: object
    main_url: str
    dlq_url: str
    conf: str
    env: dict[str, str]

    def dead_letter(self, body: str, **attributes) -> str:
        """Send ``body`` to the main queue and let SQS move it to the DLQ; returns its id."""
        params = {"QueueUrl": self.main_url, "MessageBody": body}
        if attributes:
            params["MessageAttributes"] = {
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            }
        message_id = self.sqs.send_message(**params)["MessageId"]
        for _ in range(2):  # the second receive exceeds maxReceiveCount = 1
            self.sqs.receive_message(QueueUrl=self.main_url, VisibilityTimeout=0)
        return message_id

    def drain(self, url: str) -> list[dict]:
        """Every message of ``url`` (received and deleted), to check a final state."""
        found = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return found
            for message in got:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            found.extend(got)

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "recording_storage.cli", "--config", self.conf, "dlq", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def queues(moto_server, tmp_path) -> Queues:
    sqs = moto_server.client("sqs")
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    main_url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    (tmp_path / "pubsub" / "sqs").mkdir(parents=True)
    (tmp_path / "pubsub" / "sqs" / "topics.yml").write_text(f"recordings: {main_url}\n")
    (tmp_path / "app.conf").write_text(
        "logger.format = text\nworkers.FileTransferer.queue = recordings\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_"))}
    env.update(moto_server.env)
    return Queues(sqs, main_url, dlq_url, str(tmp_path / "app.conf"), env)


def test_dlq_is_found_from_the_redrive_policy(queues):
    assert find_dead_letter_queue(queues.sqs, queues.main_url) == queues.dlq_url


def test_a_queue_without_redrive_policy_is_a_clear_error(queues):
    plain = queues.sqs.create_queue(QueueName=f"plain-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    result = queues.cli("list", "--queue-url", plain)
    assert result.returncode == 4
    assert f"{plain} has no redrive policy" in result.stderr and "--dlq-url" in result.stderr
    assert result.stdout == ""


def test_list_decodes_jobs_and_leaves_them_in_the_dlq(queues):
    valid = queues.dead_letter(VALID_JOB)
    invalid = queues.dead_letter(INVALID_JOB)
    result = queues.cli("list")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["dlq_url"] == queues.dlq_url and listing["listed"] == 2
    assert listing["not_released"] == []
    by_id = {m["message_id"]: m for m in listing["messages"]}
    assert set(by_id) == {valid, invalid}
    job = by_id[valid]["job"]
    assert job == {
        "instance": "24slocal.new.com",
        "bucket": "24s-public",
        "keys": ["sandbox/test-video.mp4"],
        "targets": ["some room/sub-room"],
        "meeting_id": "22980",
    }
    assert by_id[valid]["last_error"] is None
    assert f"job={valid}" in by_id[valid]["last_error_source"]
    assert by_id[invalid]["job"] is None
    assert by_id[invalid]["last_error"].startswith("invalid job message: storage.extra")
    for message in by_id.values():
        assert message["receive_count"] >= 2  # counted before the move
        assert message["sent_at"].endswith("Z")
        assert "body" not in message
    # Listing released them: both are still there and visible now.
    remaining = queues.drain(queues.dlq_url)
    assert sorted(m["MessageId"] for m in remaining) == sorted([valid, invalid])
    assert queues.drain(queues.main_url) == []


def test_replay_dry_run_changes_nothing(queues):
    letter = queues.dead_letter(VALID_JOB)
    result = queues.cli("replay", "--all", "--dry-run")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] and report["replayed"] == 0
    assert report["results"] == [{"message_id": letter, "outcome": "would_replay"}]
    assert queues.drain(queues.main_url) == []
    assert [m["MessageId"] for m in queues.drain(queues.dlq_url)] == [letter]


def test_replay_one_sends_body_and_attributes_back_and_deletes_only_it(queues):
    chosen = queues.dead_letter(VALID_JOB, producer="meetings")
    other = queues.dead_letter(INVALID_JOB)
    result = queues.cli("replay", chosen)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (outcome,) = report["results"]
    assert outcome["message_id"] == chosen and outcome["outcome"] == "replayed"
    (back,) = queues.drain(queues.main_url)
    assert back["MessageId"] == outcome["new_message_id"]
    assert back["Body"] == VALID_JOB
    assert back["MessageAttributes"]["producer"]["StringValue"] == "meetings"
    assert [m["MessageId"] for m in queues.drain(queues.dlq_url)] == [other]


def test_replay_all_moves_every_job(queues):
    letters = {queues.dead_letter(VALID_JOB) for _ in range(12)}  # more than one batch
    result = queues.cli("replay", "--all")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["replayed"] == 12
    assert {r["message_id"] for r in report["results"]} == letters
    assert len(queues.drain(queues.main_url)) == 12
    assert queues.drain(queues.dlq_url) == []


def test_replay_of_an_unknown_id_fails_and_releases_the_rest(queues):
    letter = queues.dead_letter(VALID_JOB)
    result = queues.cli("replay", "no-such-id")
    assert result.returncode == 4
    assert "no-such-id" in result.stderr
    assert json.loads(result.stdout)["not_found"] == ["no-such-id"]
    assert [m["MessageId"] for m in queues.drain(queues.dlq_url)] == [letter]
    assert queues.drain(queues.main_url) == []


def test_replay_needs_ids_or_all(queues):
    result = queues.cli("replay")
    assert result.returncode == 2 and "--all" in result.stderr


class SendWithoutAnswer:
    """The real moto client, except that SendMessage reaches the server and the answer is lost."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def send_message(self, **params):
        self._client.send_message(**params)
        raise EndpointConnectionError(endpoint_url="http://sqs")


def test_a_send_whose_answer_is_lost_keeps_the_original_in_the_dlq(queues):
    letter = queues.dead_letter(VALID_JOB)
    dlq = DeadLetterQueue.discover(SendWithoutAnswer(queues.sqs), queues.main_url)
    (held,) = dlq.hold()
    result = dlq.replay(held)
    assert result["outcome"] == "send_unknown"
    assert result["error"] == "EndpointConnectionError"
    # The copy may exist (here it does); the original was released, not deleted.
    assert len(queues.drain(queues.main_url)) == 1
    assert [m["MessageId"] for m in queues.drain(queues.dlq_url)] == [letter]


def test_purge_refuses_without_confirmation(queues):
    letter = queues.dead_letter(VALID_JOB)
    result = queues.cli("purge")
    assert result.returncode == 2
    assert "without confirmation: pass --yes" in result.stderr
    assert [m["MessageId"] for m in queues.drain(queues.dlq_url)] == [letter]


def test_purge_with_yes_empties_the_dlq_only(queues):
    queues.dead_letter(VALID_JOB)
    queues.sqs.send_message(QueueUrl=queues.main_url, MessageBody=VALID_JOB)
    result = queues.cli("purge", "--yes")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["purged"] is True
    assert queues.drain(queues.dlq_url) == []
    assert len(queues.drain(queues.main_url)) == 1


class Terminal:
    def __init__(self, typed: str):
        self.typed = typed

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.typed


@pytest.mark.parametrize("typed, purged", [("wrong\n", False), (None, True)])
def test_purge_on_a_terminal_needs_the_queue_name_typed(queues, typed, purged, capsys):
    from argparse import Namespace

    from recording_storage.aws import dlq_command

    queues.dead_letter(VALID_JOB)
    dlq = DeadLetterQueue(queues.sqs, queues.main_url, queues.dlq_url)
    name = queues.dlq_url.rsplit("/", 1)[-1]
    status = dlq_command._purge(Namespace(yes=False), dlq, stdin=Terminal(typed or name + "\n"))
    assert status == (0 if purged else 2)
    assert f"Type the queue name ({name})" in capsys.readouterr().err
    assert len(queues.drain(queues.dlq_url)) == (0 if purged else 1)


def test_an_unreachable_dlq_is_a_retryable_error(queues):
    dlq = DeadLetterQueue(queues.sqs, queues.main_url, queues.dlq_url + "-gone")
    with pytest.raises(DeadLetterError) as caught:
        dlq.hold()
    assert caught.value.retryable and "-gone" in str(caught.value)


def test_a_hold_shorter_than_the_listing_does_not_loop_and_keeps_the_newest_receipt(queues):
    letters = {queues.dead_letter(VALID_JOB) for _ in range(3)}
    dlq = DeadLetterQueue(queues.sqs, queues.main_url, queues.dlq_url, hold_seconds=1)
    first = {x.message_id: x.receipt_handle for x in dlq.hold()}
    assert set(first) == letters
    time.sleep(1.5)  # the hold ran out: the same messages come again
    again = dlq.hold()
    assert {x.message_id for x in again} == letters
    for letter in again:  # the newest receipt handles work
        queues.sqs.delete_message(QueueUrl=queues.dlq_url, ReceiptHandle=letter.receipt_handle)
    assert queues.drain(queues.dlq_url) == []
