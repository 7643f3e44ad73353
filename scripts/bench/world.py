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
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

from scripts.bench_upload import ENCRYPTION_PASSWORD, PASSWORD, USER, key_pair
from scripts.local_world.aws import clean_env, start_moto
from scripts.local_world.dracoon import EmulatorAdmin
from scripts.local_world.processes import Process, ProcessGroup, free_port
from scripts.local_world.service import instance, write_config

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
BUCKET = "bench-recordings"
DOMAIN = "bench.example"
READER = "reader"
READER_KEYPAIR_CACHE = ROOT / ".cache" / "bench-keypair-reader-rsa4096.json"


def reader_key_pair() -> dict:
    """A second cached key pair: the room reader every uploaded file key is wrapped for."""
    if READER_KEYPAIR_CACHE.exists():
        return json.loads(READER_KEYPAIR_CACHE.read_text())
    from recording_storage.dracoon.crypto import KEY_PAIR_RSA4096, generate_user_key_pair

    container = generate_user_key_pair(KEY_PAIR_RSA4096, "reader-crypto-pw").to_json()
    READER_KEYPAIR_CACHE.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: parallel test workers may read while another one writes.
    partial = READER_KEYPAIR_CACHE.with_name(f"{READER_KEYPAIR_CACHE.name}.{os.getpid()}")
    partial.write_text(json.dumps(container))
    os.replace(partial, READER_KEYPAIR_CACHE)
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
        self.admin = EmulatorAdmin(self.server.base_url)
        self.rooms = {n["name"]: n["id"] for n in self.admin.nodes() if n["type"] == "room"}

    @property
    def api_url(self) -> str:
        return self.server.api_url

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def files(self, name: str) -> list[dict]:
        return [n for n in self.admin.nodes() if n["name"] == name]

    def stop(self) -> None:
        self.server.stop()


class World:
    """Owns the servers and the scratch directory of one benchmark run."""

    def __init__(
        self,
        chunk_size: int,
        modes: tuple[str, ...] = ("classic",),
        profile_service: str | None = None,
    ) -> None:
        self.chunk_size = chunk_size
        # --profile-service DIR: cProfile of every service process (service_env)
        self.profile_service = profile_service
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
        # moto, the S3 server and the services the scenarios start; close() stops them all.
        self.processes = ProcessGroup()
        self.s3 = self.processes.start(
            "the bench S3 server",
            [sys.executable, "-m", "scripts.bench.s3_server", "--root", str(self.s3_root)],
            self.dir / "s3-server.log",
            self.child_env(),
        )
        self.s3_url = self.s3.wait_for_line("listening on ", timeout=30)
        self._moto: Process | None = None
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
            self.moto_url, self._moto = start_moto(self.dir / "moto.log", self.processes)
        return self.moto_url

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
        emulator = self.emulators[mode]
        directory = self.dir / f"conf-{name}"
        account = instance(emulator.api_url, emulator.rooms["BenchEncrypted"], USER, PASSWORD,
                           ENCRYPTION_PASSWORD)  # fmt: skip
        if configurator is not None:
            configurator.instances[DOMAIN.lower()] = account
        settings: dict[str, object] = {
            "logger.level": "WARNING",
            "logger.format": "json",
            "configurator.url": (
                configurator.url if configurator else f"file://{directory / 'instances.yaml'}"
            ),
            "s3.chunkSize": self.chunk_size,
            "s3.removeAfterTransferring": "false",
            "s3.endpointUrl": self.s3_url,
            "s3.allowedBuckets": BUCKET,
            "workers.FileTransferer.count": workers,
            "workers.FileTransferer.queue": "recordings",
            "workers.FileTransferer.reportLevel": "job",
            "workers.DracoonGlobalSharer.count": 0,
            "dracoon.baseUrl": emulator.api_url,
            "http.address": f"127.0.0.1:{free_port()}",
        }
        settings.update(line.split(" = ", 1) for line in extra)
        if queue_url:
            settings["sqs.endpointUrl"] = self.sqs_url()
            settings["sqs.waitTimeSeconds"] = 1
        return write_config(
            directory,
            settings,
            instances={DOMAIN: account},
            topics={"recordings": queue_url or "http://127.0.0.1:9/unused"},
        )

    def configurator(self):
        """A counting HTTP configurator (``counting.ConfiguratorServer``), stopped by close()."""
        from scripts.bench.counting import ConfiguratorServer

        server = ConfiguratorServer({}).start()
        self._configurators.append(server)
        return server

    def child_env(self) -> dict[str, str]:
        return clean_env(PYTHONPATH=str(ROOT))

    def profiled_env(self) -> dict[str, str]:
        """``child_env`` for scenario 4's service and its requests-only baseline: with
        ``--profile-service DIR`` each of their processes writes a cProfile to DIR
        (``service_profile/sitecustomize.py``)."""
        if not self.profile_service:
            return self.child_env()
        hook = Path(__file__).resolve().parent / "service_profile"
        return clean_env(
            PYTHONPATH=os.pathsep.join((str(hook), str(ROOT))),
            RECORDING_STORAGE_BENCH_PROFILE=self.profile_service,
        )

    def close(self) -> None:
        for emulator in self.emulators.values():
            emulator.stop()
        if self._sqs_proxy is not None:
            self._sqs_proxy.stop()
        for server in self._configurators:
            server.stop()
        self.processes.stop_all()
        logging.getLogger("dracoon_emulator").removeHandler(self.counter)
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
