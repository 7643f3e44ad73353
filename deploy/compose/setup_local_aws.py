"""The docker-compose stack's AWS side, on the moto server (run in the ``setup`` container).

``create``: the configuration bucket with conf/ uploaded under ``recording-storage/local/``
(where entrypoint.sh fetches it), the recordings bucket, and the job queue with a dead-letter
queue (redrive after 10 receives), as docs/operations.md asks for production.
``send-sample``: a generated 20 MiB recording in the recordings bucket and the original
README's sample message (scripts/demo/message.json, mounted at $SAMPLE_MESSAGE; bucket
adjusted) on the queue.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
REGION = os.environ.get("AWS_DEFAULT_REGION", "eu-central-1")
ENDPOINT = os.environ.get("RS_AWS_ENDPOINTURL", "http://moto:5000")
CONFIG_BUCKET = "recording-storage-config"
CONFIG_PREFIX = "recording-storage/local"
RECORDINGS_BUCKET = "recordings-local"
QUEUE = "recordings"
SAMPLE_MESSAGE = Path(os.environ.get("SAMPLE_MESSAGE", "/sample/message.json"))


def client(service: str):
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 10})
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION, config=config)


def wait_for_moto(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client("s3").list_buckets()
            return
        except Exception as error:  # connection refused while moto starts
            if time.monotonic() > deadline:
                sys.exit(f"setup: moto at {ENDPOINT} does not answer: {error}")
            time.sleep(1)


def create() -> None:
    wait_for_moto()
    s3, sqs = client("s3"), client("sqs")
    location = {"LocationConstraint": REGION}
    for bucket in (CONFIG_BUCKET, RECORDINGS_BUCKET):
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=location)
    conf = HERE / "conf"
    for path in sorted(p for p in conf.rglob("*") if p.is_file()):
        key = f"{CONFIG_PREFIX}/{path.relative_to(conf).as_posix()}"
        s3.upload_file(str(path), CONFIG_BUCKET, key)
        print(f"setup: s3://{CONFIG_BUCKET}/{key}")
    dlq_url = sqs.create_queue(QueueName=f"{QUEUE}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10"})
    queue_url = sqs.create_queue(
        QueueName=QUEUE, Attributes={"VisibilityTimeout": "300", "RedrivePolicy": redrive}
    )["QueueUrl"]
    print(f"setup: queue {queue_url} (dead-letter queue {dlq_url})")


def send_sample() -> None:
    s3, sqs = client("s3"), client("sqs")
    key = "sandbox/test-video.mp4"
    s3.put_object(Bucket=RECORDINGS_BUCKET, Key=key, Body=os.urandom(20 * 2**20))
    message = json.loads(SAMPLE_MESSAGE.read_text())
    message["storage"]["extra"]["aws.s3"]["bucket"] = RECORDINGS_BUCKET
    queue_url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    message_id = sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))["MessageId"]
    print(f"setup: s3://{RECORDINGS_BUCKET}/{key} (20 MiB) and job {message_id} sent")


if __name__ == "__main__":
    commands = {"create": create, "send-sample": send_sample}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: setup_local_aws.py {{{','.join(commands)}}}")
    commands[sys.argv[1]]()
