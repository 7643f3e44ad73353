"""The benchmark's world: DRACOON emulators, the fast S3 server, moto (SQS), configuration.

Everything listens on 127.0.0.1. The emulators run in this (the driver's) process in
``discard`` storage mode and count every request they answer by endpoint template, so a
scenario can say how many DRACOON requests a job cost. The S3 server and moto run as
subprocesses; workloads run in fresh subprocesses (``scripts.bench.workloads``) so each one's
peak RSS is its own.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from scripts.bench_upload import ENCRYPTION_PASSWORD, PASSWORD, USER, key_pair

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
BUCKET = "bench-recordings"
DOMAIN = "bench.example"
REGION = "eu-central-1"
READER = "reader"
READER_KEYPAIR_CACHE = ROOT / ".cache" / "bench-keypair-reader-rsa4096.json"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reader_key_pair() -> dict:
    """A second cached key pair: the room reader every uploaded file key is wrapped for."""
    if READER_KEYPAIR_CACHE.exists():
        return json.loads(READER_KEYPAIR_CACHE.read_text())
    from recording_storage.dracoon.crypto import KEY_PAIR_RSA4096, generate_user_key_pair

    container = generate_user_key_pair(KEY_PAIR_RSA4096, "reader-crypto-pw").to_json()
    READER_KEYPAIR_CACHE.parent.mkdir(parents=True, exist_ok=True)
    READER_KEYPAIR_CACHE.write_text(json.dumps(container))
    return container


class RequestCounter(logging.Handler):
    """Counts the emulator's one-line-per-request log records by ``METHOD /endpoint``."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and record.msg.startswith("%s %s -> %s"):
            with self._lock:
                self.counts[f"{args[0]} {args[1]}"] += 1

    def snapshot(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(self.counts)


def seed(s3_direct: bool) -> dict:
    manager = {"login": USER, "permissions": "all"}
    reader = {"login": READER, "permissions": ["read"]}
    return {
        "s3_direct_upload": s3_direct,
        "s3_finishing_seconds": 0.0,
        "storage": "discard",
        "users": [
            {
                "login": USER,
                "password": PASSWORD,
                "encryption_password": ENCRYPTION_PASSWORD,
                "key_pair": key_pair(),
                "roles": ["ROOM_MANAGER"],
            },
            {"login": READER, "password": "reader-pw", "key_pair": reader_key_pair()},
        ],
        "rooms": [
            {"path": "BenchEncrypted", "encrypted": True, "members": [manager, reader]},
            {"path": "BenchPlain", "encrypted": False, "members": [manager, reader]},
        ],
    }


class Emulator:
    """One in-process DRACOON emulator (classic or S3-direct uploads) with a request counter."""

    def __init__(self, mode: str, state_dir: Path) -> None:
        from dracoon_emulator import EmulatorServer

        self.mode = mode
        self.server = EmulatorServer(seed(mode == "s3"), state_dir=state_dir).start()
        self.rooms = {
            n["name"]: n["id"] for n in self.admin("GET", "/emulator/nodes") if n["type"] == "room"
        }

    @property
    def api_url(self) -> str:
        return self.server.api_url

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def admin(self, method: str, path: str, body: dict | None = None):
        request = urllib.request.Request(  # noqa: S310 - our own 127.0.0.1 URL
            self.server.base_url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            data = answer.read()
        return json.loads(data) if data else None

    def files(self, name: str) -> list[dict]:
        return [n for n in self.admin("GET", "/emulator/nodes") if n["name"] == name]

    def stop(self) -> None:
        self.server.stop()


class Subprocess:
    """A server subprocess that prints ``listening on URL`` (S3 server) or is polled (moto)."""

    def __init__(self, argv: list[str], log_path: Path, env: dict | None = None) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env or os.environ
            )

    def wait_for_line(self, prefix: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix) :].strip()
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.log_path.name}: no {prefix!r} line; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class World:
    """Owns the servers and the scratch directory of one benchmark run."""

    def __init__(self, chunk_size: int, modes: tuple[str, ...] = ("classic",)) -> None:
        self.chunk_size = chunk_size
        self._temp = tempfile.TemporaryDirectory(prefix="bench-")
        self.dir = Path(self._temp.name)
        self.counter = RequestCounter()
        emulator_log = logging.getLogger("dracoon_emulator")
        emulator_log.setLevel(logging.INFO)
        emulator_log.propagate = False
        emulator_log.addHandler(self.counter)
        self.emulators = {mode: Emulator(mode, self.dir / f"emulator-{mode}") for mode in modes}
        self.s3_root = self.dir / "s3"
        (self.s3_root / BUCKET).mkdir(parents=True)
        self.s3 = Subprocess(
            [sys.executable, "-m", "scripts.bench.s3_server", "--root", str(self.s3_root)],
            self.dir / "s3-server.log",
        )
        self.s3_url = self.s3.wait_for_line("listening on ")
        self._moto: Subprocess | None = None
        self.moto_url = ""
        self._sqs_proxy = None
        self._configurators: list = []

    # -- S3 objects -----------------------------------------------------------------------

    def object_path(self, key: str) -> Path:
        from scripts.bench.s3_server import object_path

        return object_path(self.s3_root, BUCKET, key)

    def put_object(self, key: str, size: int) -> Path:
        """A test recording of ``size`` bytes (random 4 MiB block, varied per block)."""
        path = self.object_path(key)
        if not path.exists() or path.stat().st_size != size:
            write_pattern(path, size)
        return path

    def fresh_emulator(self, mode: str) -> None:
        """Replace emulator ``mode`` by a new, empty one. The emulator's listings and key
        queries cost more the more nodes it holds, so each measured side of a comparison
        starts from the same empty state (the requests are counted all the same)."""
        self.emulators[mode].stop()
        self._generation = getattr(self, "_generation", 0) + 1
        self.emulators[mode] = Emulator(mode, self.dir / f"emulator-{mode}-{self._generation}")

    def s3_counts(self) -> collections.Counter[str]:
        """Requests the bench S3 server answered so far, by S3 operation."""
        with urllib.request.urlopen(self.s3_url + "/_bench/counts", timeout=30) as answer:  # noqa: S310
            return collections.Counter(json.loads(answer.read()))

    def sqs_url(self) -> str:
        """moto behind a proxy that counts SQS operations (``counting.CountingProxy``)."""
        if self._sqs_proxy is None:
            from scripts.bench.counting import CountingProxy, sqs_operation

            self._sqs_proxy = CountingProxy(self.moto(), sqs_operation).start()
        return self._sqs_proxy.url

    def sqs_counts(self) -> collections.Counter[str]:
        if self._sqs_proxy is None:
            return collections.Counter()
        return self._sqs_proxy.snapshot()

    # -- moto (SQS, and the ranged-GET probe) ---------------------------------------------

    def moto(self) -> str:
        if self._moto is None:
            port = free_port()
            self._moto = Subprocess(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                self.dir / "moto.log",
                env={**os.environ, **AWS_ENV},
            )
            self.moto_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(self.moto_url + "/moto-api/", timeout=2).close()  # noqa: S310
                    break
                except OSError:
                    if time.monotonic() > deadline or self._moto.process.poll() is not None:
                        raise RuntimeError(
                            f"moto did not start; see {self._moto.log_path}"
                        ) from None
                    time.sleep(0.1)
        return self.moto_url

    def boto3_client(self, service: str, endpoint: str):
        import boto3
        from botocore.config import Config

        return boto3.session.Session(
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        ).client(service, endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))

    # -- service configuration ------------------------------------------------------------

    def configure(
        self,
        mode: str,
        name: str,
        *,
        workers: int = 1,
        queue_url: str = "",
        configurator=None,
        extra: tuple[str, ...] = (),
    ) -> Path:
        """app.conf + instances.yaml (+ topics.yml) for the service against emulator ``mode``.

        ``configurator``: a ``counting.ConfiguratorServer`` to serve the instance over HTTP
        (counted) instead of the ``file://`` instances.yaml; ``extra``: more app.conf lines.
        """
        import yaml

        emulator = self.emulators[mode]
        directory = self.dir / f"conf-{name}"
        (directory / "pubsub" / "sqs").mkdir(parents=True, exist_ok=True)
        instances = {
            DOMAIN: {
                "recordings.storage": "dracoon",
                "recordings.dracoon.base-url": emulator.api_url,
                "recordings.dracoon.parent-room-id": emulator.rooms["BenchEncrypted"],
                "recordings.dracoon.login": USER,
                "recordings.dracoon.password": PASSWORD,
                "recordings.dracoon.encryption-password": ENCRYPTION_PASSWORD,
            }
        }
        (directory / "instances.yaml").write_text(yaml.safe_dump(instances))
        if configurator is not None:
            configurator.instances.update({k.lower(): v for k, v in instances.items()})
        (directory / "pubsub" / "sqs" / "topics.yml").write_text(
            f"recordings: {queue_url or 'http://127.0.0.1:9/unused'}\n"
        )
        lines = [
            "logger.level = WARNING",
            "logger.format = json",
            "configurator.url = "
            + (configurator.url if configurator else f"file://{directory / 'instances.yaml'}"),
            f"s3.chunkSize = {self.chunk_size}",
            "s3.removeAfterTransferring = false",
            f"s3.endpointUrl = {self.s3_url}",
            f"s3.allowedBuckets = {BUCKET}",
            f"workers.FileTransferer.count = {workers}",
            "workers.FileTransferer.queue = recordings",
            "workers.FileTransferer.reportLevel = job",
            "workers.DracoonGlobalSharer.count = 0",
            f"dracoon.baseUrl = {emulator.api_url}",
            f"http.address = 127.0.0.1:{free_port()}",
        ]
        lines.extend(extra)
        if queue_url:
            lines.append(f"sqs.endpointUrl = {self.sqs_url()}")
            lines.append("sqs.waitTimeSeconds = 1")
        conf = directory / "app.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def configurator(self):
        """A counting HTTP configurator (``counting.ConfiguratorServer``), stopped by close()."""
        from scripts.bench.counting import ConfiguratorServer

        server = ConfiguratorServer({}).start()
        self._configurators.append(server)
        return server

    def child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_"))}
        env.update(AWS_ENV)
        env["PYTHONPATH"] = str(ROOT)
        return env

    def close(self) -> None:
        for emulator in self.emulators.values():
            emulator.stop()
        self.s3.stop()
        if self._sqs_proxy is not None:
            self._sqs_proxy.stop()
        for server in self._configurators:
            server.stop()
        if self._moto is not None:
            self._moto.stop()
        self._temp.cleanup()


def message(keys: list[str], rooms: list[str], meeting_id: int = 1) -> dict:
    """A job message (the original service's format) for ``keys`` into ``rooms``."""
    return {
        "storage": {
            "type": "dracoon",
            "extra": {
                "dracoon": {"targets": [{"path": room} for room in rooms]},
                "aws.s3": {"bucket": BUCKET, "keys": keys},
            },
        },
        "meeting": {
            "id": meeting_id,
            "type": {"name": "bench", "duration": 60},
            "user": {"name": "Bench", "email": "bench@example.com"},
            "date": "2024-01-01T10:00:00+00:00",
            "description": "benchmark",
        },
        "instance": {"domain": DOMAIN},
    }


def write_pattern(path: Path, size: int) -> None:
    """Cheap incompressible content: one random 4 MiB block with a counter per block."""
    block = bytearray(os.urandom(4 * MiB))
    temp = path.with_name(".tmp-" + path.name)
    with open(temp, "wb") as out:
        written, counter = 0, 0
        while written < size:
            block[:8] = counter.to_bytes(8, "big")
            piece = memoryview(block)[: size - written]
            out.write(piece)
            written += len(piece)
            counter += 1
    temp.replace(path)
