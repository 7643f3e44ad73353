"""The bench's request counters count what they are meant to (scripts/bench/counting.py,
the S3 server's ``/_bench/counts``)."""

from __future__ import annotations

import collections
import json
import urllib.request

import boto3
from botocore.config import Config

from scripts.bench.counting import (
    ConfiguratorServer,
    CountingProxy,
    RequestTable,
    dracoon_kind,
    sqs_operation,
)
from scripts.bench.s3_server import LocalS3Server


def client(service: str, url: str):
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="eu-central-1"
    ).client(service, endpoint_url=url, config=Config(s3={"addressing_style": "path"}))


def test_the_s3_server_counts_each_operation(tmp_path):
    with LocalS3Server(tmp_path) as server:
        s3 = client("s3", server.url)
        s3.create_bucket(
            Bucket="b", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        s3.put_object(Bucket="b", Key="k", Body=b"x" * 10)
        s3.head_object(Bucket="b", Key="k")
        s3.get_object(Bucket="b", Key="k", Range="bytes=0-4")["Body"].read()
        s3.get_object(Bucket="b", Key="k")["Body"].read()
        s3.delete_object(Bucket="b", Key="k")
        with urllib.request.urlopen(server.url + "/_bench/counts") as answer:
            counts = json.loads(answer.read())
    assert 1 <= counts.pop("(new TCP connections)") <= 6
    assert counts == {"CreateBucket": 1, "PutObject": 1, "HeadObject": 1, "GetObject": 2,
                      "DeleteObject": 1}  # fmt: skip


def test_the_proxy_counts_sqs_operations_and_passes_answers_through(moto_server):
    proxy = CountingProxy(moto_server.url, sqs_operation).start()
    try:
        sqs = client("sqs", proxy.url)
        url = sqs.create_queue(QueueName="counted")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        assert [m["Body"] for m in got] == ["hello"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        assert proxy.snapshot() == {"CreateQueue": 1, "SendMessage": 1, "ReceiveMessage": 1,
                                    "DeleteMessage": 1, "(new TCP connections)": 1}  # fmt: skip
    finally:
        proxy.stop()


def test_sqs_operation_of_both_protocols():
    assert sqs_operation({"X-Amz-Target": "AmazonSQS.ReceiveMessage"}, b"{}") == "ReceiveMessage"
    assert sqs_operation({}, b"Action=DeleteMessage&QueueUrl=x") == "DeleteMessage"


def test_the_configurator_serves_and_counts():
    server = ConfiguratorServer({"A.example": {"recordings.storage": "dracoon"}}).start()
    try:
        with urllib.request.urlopen(server.url + "/instances/a.example") as answer:
            assert json.loads(answer.read()) == {"recordings.storage": "dracoon"}
        assert server.snapshot() == {"GET /instances/{domain}": 1, "(new TCP connections)": 1}
    finally:
        server.stop()


def test_the_table_is_per_job_and_keeps_per_process_requests_apart():
    table = RequestTable()
    before = {"POST /oauth/token": 0, "GET /api/v4/nodes": 3}
    after = {"POST /oauth/token": 2, "GET /api/v4/nodes": 23, "PUT /api/v4/uploads/***": 10}
    table.add("DRACOON", collections.Counter(before), collections.Counter(after),
              kind=dracoon_kind)  # fmt: skip
    assert table.per_job(10) == {"DRACOON GET /nodes": 2.0, "DRACOON PUT /uploads/***": 1.0,
                                 "DRACOON POST /oauth/token": 0.2}  # fmt: skip
    text = table.markdown(10, 2, "t")
    assert "| DRACOON | POST /oauth/token | 0.20 | 2 | per process |" in text
    assert "| DRACOON | **all, per job** | 3.00 | 32 | without per-process requests |" in text
