"""Fixtures of the service tests: a moto server for SQS/S3 and the fake-runner service."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.service.support import (
    ANY_PORT,
    FAST_OPTIONS,
    ServiceProcess,
    python_module,
)


@pytest.fixture(scope="session")
def moto_endpoint(moto_server):
    """The session's moto server (tests/support/aws_fixtures.py), for SQS and S3."""
    return moto_server.url


@pytest.fixture
def sqs(moto_server):
    return moto_server.client("sqs")


@pytest.fixture
def queue_url(sqs):
    """A fresh queue per test (no leftovers from another test)."""
    return sqs.create_queue(QueueName=f"jobs-{uuid.uuid4().hex[:12]}")["QueueUrl"]


@pytest.fixture
def fake_service(tmp_path, moto_endpoint, queue_url):
    """``start(**spec)`` runs ``tests.service.fake_serve`` (the real master, fake work)."""
    started: list[ServiceProcess] = []

    def start(transferers=1, sharer=1, env=None, **extra) -> ServiceProcess:
        http = ANY_PORT
        spec = {
            "endpoint": moto_endpoint,
            "queue_url": queue_url,
            "http_address": http,
            "transferers": transferers,
            "sharer": sharer,
            **extra,
        }
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        service = ServiceProcess(
            python_module("tests.service.fake_serve", str(tmp_path)),
            env={**FAST_OPTIONS, **(env or {})},
            log_path=tmp_path / "service.log",
            http=http,
        ).start()
        started.append(service)
        service.wait_listening()
        return service

    yield start
    for service in started:
        service.stop()
