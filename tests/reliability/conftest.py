"""The reliability tests' world: the DRACOON emulator, the moto server behind a fault proxy,
a file configurator, and JobRunners in this process (fast: one key unlock per runner).

Service-level faults (SQS, processes, two instances) run ``recording-storage serve`` as a
subprocess with the helpers of tests/service.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
import uuid
from collections.abc import Callable

import pytest

from recording_storage.jobs.runner import JobError, JobResult, JobRunner
from scripts.local_world.service import instance, write_config
from tests.jobs.conftest import CHUNK, DOMAIN, Service, readme_message
from tests.service.support import ANY_PORT, FAST_OPTIONS, ServiceProcess
from tests.support.emulator_fixtures import default_seed, encryption_password, login_password
from tests.support.fault_proxy import FaultProxy


class World(Service):
    """``Service`` (tests/jobs) plus the fault proxy, in-process runners and checks."""

    proxy: FaultProxy
    tamper: FaultProxy  # only when through_tamper_proxy() put one in front of the emulator
    bucket: object
    runners: list

    # -- jobs -----------------------------------------------------------------------------

    def runner(self, *, s3_attempts: int | None = None, **env: str) -> JobRunner:
        """A JobRunner on this world; ``s3_attempts`` shrinks botocore's retry budget (its
        backoff makes a lasting 503 take ~20 s with the service's 5 attempts)."""
        s3_client = None
        if s3_attempts is not None:
            import boto3
            from botocore.config import Config

            s3_client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.proxy.url,
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"mode": "standard", "max_attempts": s3_attempts},
                ),
            )
        runner = JobRunner(self.settings(**env), s3_client=s3_client)
        self.runners.append(runner)
        return runner

    def message(self, key: str, path: str = "rec", keys: list[str] | None = None) -> str:
        return json.dumps(
            readme_message(bucket=self.bucket.name, keys=keys or [key], targets=[{"path": path}])
        )

    def run(
        self,
        runner: JobRunner,
        body: str,
        *,
        attempts: int = 3,
        between: Callable[[], None] | None = None,
        **kwargs,
    ) -> tuple[JobResult, list[JobError]]:
        """Run like SQS would: retry a retryable failure (a redelivery) up to ``attempts``."""
        errors: list[JobError] = []
        for attempt in range(attempts):
            try:
                return runner.run(body, job_id=f"job-{attempt + 1}", **kwargs), errors
            except JobError as exc:
                errors.append(exc)
                if not exc.retryable:
                    raise
                if between is not None:
                    between()
        raise errors[-1]

    # -- DRACOON side ---------------------------------------------------------------------

    def files(self, path: str = "rec") -> list[dict]:
        try:
            return self.files_in(f"/Recordings/{path}")
        except AssertionError:  # the room does not exist yet
            return []

    def faults(self, *rules: dict) -> None:
        if rules:
            self.admin("POST", "/emulator/faults", {"rules": list(rules)})
        else:
            self.admin("DELETE", "/emulator/faults")

    def open_uploads(self) -> list[dict]:
        """Upload channels still open (status ``transfer``): none may remain after a job."""
        return [u for u in self.admin("GET", "/emulator/uploads") if u["status"] == "transfer"]

    def assert_one_correct_file(self, data: bytes, path: str = "rec", reader="alice") -> dict:
        """Exactly one file in the room, decryptable by another member, equal to ``data``."""
        files = self.files(path)
        assert len(files) == 1, [f["name"] for f in files]
        assert self.download_as(reader, files[0]["id"]) == data
        assert self.open_uploads() == []
        return files[0]


def make_world(emulator, moto_server, bucket, tmp_path, proxy: FaultProxy, **conf) -> World:
    instances_path = tmp_path / "instances.yaml"
    settings = {
        "logger.level": "INFO",
        "logger.format": "json",
        "configurator.url": f"file://{instances_path}",
        "s3.chunkSize": str(CHUNK),
        "s3.removeAfterTransferring": "true",
        "s3.allowedBuckets": bucket.name,
        "s3.endpointUrl": proxy.url,
        "workers.FileTransferer.reportLevel": "file",
        "dracoon.baseUrl": emulator.api_url,
        **conf,
    }
    conf_path = write_config(tmp_path, settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_"))}
    env.update(moto_server.env)
    world = World(emulator, tmp_path, env, conf_path, instances_path)
    world.proxy, world.bucket, world.runners = proxy, bucket, []
    recordings = world.node("/Recordings")
    service = "service"
    world.set_instance(
        DOMAIN,
        **instance(emulator.api_url, recordings["id"], service, login_password(service),
                   encryption_password(service)),
    )  # fmt: skip
    return world


@pytest.fixture
def proxy(moto_server):
    with FaultProxy(moto_server.url) as running:
        yield running


@pytest.fixture
def world(emulator, moto_server, s3_bucket, tmp_path, proxy, aws_env):
    """Classic uploads; S3 through the fault proxy; runners in this process."""
    world = make_world(emulator, moto_server, s3_bucket, tmp_path, proxy)
    yield world
    for runner in world.runners:
        runner.close()


@pytest.fixture
def s3_world(emulator_factory, test_key_pairs, moto_server, s3_bucket, tmp_path, proxy, aws_env):
    """Like ``world`` with S3 direct uploads on the DRACOON side."""
    server = emulator_factory(default_seed(test_key_pairs, s3_direct=True))
    world = make_world(server, moto_server, s3_bucket, tmp_path, proxy)
    yield world
    for runner in world.runners:
        runner.close()


def through_tamper_proxy(world: World) -> FaultProxy:
    """Every DRACOON call of ``world``'s runners through a tamper proxy in front of the
    emulator (``world.tamper``: its rules break answers, its counts show what was sent);
    the caller stops it."""
    proxy = FaultProxy(world.emulator.base_url).start()
    world.set_instance(DOMAIN, **{"recordings.dracoon.base-url": f"{proxy.url}/api/v4"})
    world.tamper = proxy
    return proxy


@pytest.fixture
def classic(world):
    """Classic uploads, every DRACOON call through the tamper proxy (``world.tamper``)."""
    proxy = through_tamper_proxy(world)
    yield world
    _close_runners(world)  # while the proxy still forwards: closing logs out of DRACOON
    proxy.stop()


@pytest.fixture
def direct(s3_world):
    """S3 direct uploads, every DRACOON call (presigned part PUTs too) through the tamper
    proxy (``world.tamper``)."""
    proxy = through_tamper_proxy(s3_world)
    yield s3_world
    _close_runners(s3_world)  # while the proxy still forwards: closing logs out of DRACOON
    proxy.stop()


def _close_runners(world: World) -> None:
    for runner in world.runners:
        runner.close()
    world.runners.clear()


# -- the service as a subprocess ---------------------------------------------------------------


class Deployment:
    """One or more ``recording-storage serve`` processes on one queue (SQS via the proxy)."""

    def __init__(self, world: World, sqs, queue_url: str):
        self.world = world
        self.sqs = sqs
        self.queue_url = queue_url
        self.services: list[ServiceProcess] = []

    def start(self, *, transferers: int = 1, sqs_via_proxy: bool = False, **env: str):
        http = ANY_PORT
        index = len(self.services) + 1
        argv = [
            os.sys.executable,
            "-m",
            "recording_storage.cli",
            "--config",
            str(self.world.conf),
            "serve",
        ]
        settings_env = {
            "RS_HTTP_ADDRESS": http,
            "RS_WORKERS_FILETRANSFERER_COUNT": str(transferers),
            "RS_WORKERS_DRACOONGLOBALSHARER_COUNT": "0",
            "RS_WORKERS_FILETRANSFERER_REPORTLEVEL": "file",
        }
        if sqs_via_proxy:
            settings_env["RS_SQS_ENDPOINTURL"] = self.world.proxy.url
        service = ServiceProcess(
            argv,
            env={**self.world.env, **FAST_OPTIONS, **settings_env, **env},
            log_path=self.world.tmp_path / f"service-{index}.log",
            http=http,
        ).start()
        self.services.append(service)
        service.wait_listening(timeout=60)
        return service

    def send(self, key: str, data: bytes | None = None, path: str = "rec") -> str:
        if data is not None:
            self.world.bucket.put(key, data)
        body = self.world.message(key, path)
        return self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"]

    def records(self, job: str | None = None, code: int | None = None) -> list[dict]:
        return [
            r
            for service in self.services
            for r in service.log_records()
            if (job is None or r.get("job") == job) and (code is None or r.get("code") == code)
        ]

    def stop(self) -> None:
        for service in self.services:
            service.stop()


@pytest.fixture
def deployment(world, moto_server):
    sqs = moto_server.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"rel-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    (world.tmp_path / "pubsub" / "sqs").mkdir(parents=True)
    (world.tmp_path / "pubsub" / "sqs" / "topics.yml").write_text(f"recordings: {queue_url}\n")
    with world.conf.open("a") as conf:
        conf.write("workers.FileTransferer.queue = recordings\n")
    deployment = Deployment(world, sqs, queue_url)
    yield deployment
    deployment.stop()


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list]:
    """Run ``target`` in a thread; the list gets its result or exception."""
    outcome: list = []

    def run():
        try:
            outcome.append(target())
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def http_json(url: str, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data = response.read()
    return json.loads(data) if data else None
