"""Fixtures that run AWS stand-ins (moto server) for tests over the real wire protocol.

``moto_server`` (session scope) starts ``python -m moto.server`` as a subprocess on a free
127.0.0.1 port once per test session. Its ``env`` holds what boto3 (in-process or in a
subprocess such as the CLI) needs: fake credentials, the region, and ``RS_AWS_ENDPOINTURL``
for recording-storage. ``aws_env`` (function scope) applies that environment to this process.
``s3_bucket`` creates a fresh bucket per test. Engineer E uses the same server for SQS.
The server is started the way the demo and the benchmark start theirs
(``scripts.local_world.aws.start_moto``).
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from scripts.local_world.aws import boto3_client, start_moto
from scripts.local_world.processes import Process
from tests.support.paths import CACHE_DIR

REGION = "eu-central-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass
class MotoServer:
    url: str
    process: Process = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """Environment for boto3 and recording-storage processes that talk to this server."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "RS_AWS_REGION": REGION,
            "RS_AWS_ENDPOINTURL": self.url,
        }

    def client(self, service: str):
        """A boto3 client for ``service`` on this server (fake credentials, no env needed)."""
        return boto3_client(service, self.url, retries={"max_attempts": 2})

    def reset(self) -> None:
        """Forget every bucket, object and queue (moto's reset API)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    log_path = CACHE_DIR / f"moto-server-{os.getpid()}.log"
    env = {**os.environ, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION}
    url, process = start_moto(log_path, env=env)
    try:
        yield MotoServer(url, process)
    finally:
        process.stop(timeout=10)
        log_path.unlink(missing_ok=True)


@pytest.fixture
def aws_env(moto_server, monkeypatch) -> dict[str, str]:
    """Point boto3 in this process at the moto server (fake credentials, region)."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in moto_server.env.items():
        monkeypatch.setenv(name, value)
    return moto_server.env


@dataclass
class Bucket:
    name: str
    client: object = field(repr=False)

    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key``; returns the ETag (without quotes)."""
        return self.client.put_object(Bucket=self.name, Key=key, Body=data)["ETag"].strip('"')

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.name, Key=key)
        except self.client.exceptions.ClientError:
            return False
        return True

    def list_keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return [item["Key"] for item in listing.get("Contents", [])]


@pytest.fixture
def s3_bucket(moto_server) -> Bucket:
    """A fresh, empty bucket on the moto server (unique name per test)."""
    client = moto_server.client("s3")
    name = f"test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return Bucket(name, client)
