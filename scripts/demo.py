"""The whole recording-storage flow on one machine, with nothing to configure.

Run by ``scripts/demo.sh`` (which prepares the virtual environment first). It starts local
stand-ins for everything the service talks to, sends the original README's sample job through
the real service, and checks the result the way a customer would: the second member of the
room downloads the recording and decrypts it.

1. stand-ins: a moto server (S3 + SQS), the DRACOON emulator seeded from scripts/demo/seed.yaml
   (an instance account, an encrypted parent room, two room members) and a file configurator
   (instances.yaml) — all on free loopback ports, all written into a run directory;
2. a generated recording (``--size``, 100 MiB by default) streamed into S3, and the sample
   message (scripts/demo/message.json, bucket adjusted) sent to SQS;
3. ``recording-storage serve`` (master, FileTransferers, DracoonGlobalSharer), with the
   transfer's progress read from the service's own log;
4. what happened, from the outside: rooms and file from the emulator's admin API, S3 and SQS
   from moto, counters from ``/metrics``;
5. the second room member's download, decrypted and compared (SHA-256) with the original;
6. everything stopped (the service with SIGTERM, which must exit 0).

Exit status: 0 success, 1 a step failed (the message names the step and the logs), 2 usage,
130 interrupted. Nothing here is part of the service; it only drives it from outside.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = PROJECT_ROOT / "scripts" / "demo"
RUNS_DIR = PROJECT_ROOT / "var" / "demo"
KEY_PAIR_CACHE = PROJECT_ROOT / ".cache" / "demo-keypairs"
KEPT_RUNS = 5
KEY_PAIR_VERSION = "RSA-4096"

REGION = "eu-central-1"
BUCKET = "demo-recordings"
QUEUE = "recording-storage-demo"
DOMAIN = "24slocal.new.com"
INSTANCE_LOGIN = "recordings-service"
PARENT_ROOM = "Meeting recordings"
VERIFYING_MEMBER = "ben"
MiB = 2**20

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


class DemoFailed(Exception):
    """A step failed; ``str()`` says what, ``hint`` says where to look."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class Interrupted(Exception):
    pass


# -- small helpers ---------------------------------------------------------------------------


def say(text: str = "") -> None:
    print(text, flush=True)


def step(text: str) -> None:
    say(f"==> {text}")


def mib(count: float) -> str:
    from recording_storage.progress import format_bytes

    return format_bytes(count)


def parse_size(text: str) -> int:
    """``100MB``, ``5MiB``, ``512k``, ``1G``, ``1048576`` — 1024-based, like app.conf sizes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 100MB, 5MiB or 512k")
    factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[match.group(2).lower()]
    size = int(float(match.group(1)) * factor)
    if not 1 <= size <= 20 * 2**30:
        raise argparse.ArgumentTypeError(f"{text!r}: the size must be between 1 byte and 20 GiB")
    return size


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(method: str, url: str, body: Any = None, timeout: float = 10) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
        text = response.read()
    return json.loads(text) if text else None


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, hint: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {timeout:.0f} s waiting for {what}", hint)
        time.sleep(0.1)


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    | " + line[:300] for line in text[-lines:])


# -- processes -------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path


@dataclass
class Stack:
    """Every process the demo started, stopped in reverse order (also on errors and signals).

    Each child runs in its own session (so a terminal's Ctrl-C reaches only the demo, which
    then stops the service gracefully). Their pids go to ``pid_file`` for scripts/demo.sh's
    trap, in case this process itself is killed without a chance to clean up.
    """

    pid_file: Path | None
    children: list[Child] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], log: Path, env: dict[str, str], stdout: Path | None = None
    ) -> Child:
        """Start ``argv``; stderr (and stdout unless ``stdout`` is given) go to ``log``."""
        with log.open("ab") as err, stdout.open("wb") if stdout else log.open("ab") as out:
            process = subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        child = Child(name, process, log)
        self.children.append(child)
        self._write_pids()
        return child

    def stop(self, child: Child, timeout: float = 30) -> int:
        """SIGTERM, wait, then SIGKILL the child's whole session; returns its exit status."""
        process = child.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # leftovers of its session (workers)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        if child in self.children:
            self.children.remove(child)
            self._write_pids()
        return process.returncode if process.returncode is not None else -9

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            self.stop(child)

    def _write_pids(self) -> None:
        if self.pid_file is not None:
            self.pid_file.write_text("".join(f"{c.process.pid}\n" for c in self.children))


def child_env(**extra: str) -> dict[str, str]:
    """This environment without RS_*/AWS_* settings of the caller, plus the demo's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(AWS_ENV)
    env.update(extra)
    return env


def bin_path(name: str) -> str:
    """A console script of this virtual environment (next to the running interpreter)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


# -- the DRACOON world -----------------------------------------------------------------------


def _generate_key_pair(login: str, password: str) -> tuple[str, dict]:
    from recording_storage.dracoon.crypto import generate_user_key_pair

    return login, generate_user_key_pair(KEY_PAIR_VERSION, password).to_json()


def materialize_seed(seed: dict) -> tuple[dict, list[str]]:
    """The seed with each ``encryption_password`` replaced by a cached key pair.

    Generating an RSA-4096 key pair takes seconds, so it happens once per user and password
    (in parallel), cached in .cache/demo-keypairs/. Returns the seed and the logins whose
    pairs were generated now.
    """
    KEY_PAIR_CACHE.mkdir(parents=True, exist_ok=True)
    seed = copy.deepcopy(seed)
    wanted: dict[str, str] = {}
    pairs: dict[str, dict] = {}
    for user in seed.get("users", []):
        password = user.get("encryption_password")
        if not password:
            continue
        path = KEY_PAIR_CACHE / f"{user['login']}-{KEY_PAIR_VERSION}.json"
        try:
            cached = json.loads(path.read_text())
            if cached["encryption_password"] == password:
                pairs[user["login"]] = cached["key_pair"]
                continue
        except (OSError, ValueError, KeyError):
            pass
        wanted[user["login"]] = password
    if wanted:
        step(
            f"generating RSA-4096 key pairs for {', '.join(wanted)} "
            f"(once; cached in {KEY_PAIR_CACHE.relative_to(PROJECT_ROOT)}/)"
        )
        with ProcessPoolExecutor(max_workers=min(len(wanted), os.cpu_count() or 1)) as pool:
            for login, pair in pool.map(_generate_key_pair, wanted, wanted.values()):
                path = KEY_PAIR_CACHE / f"{login}-{KEY_PAIR_VERSION}.json"
                temp = path.with_suffix(".tmp")
                temp.write_text(
                    json.dumps({"key_pair": pair, "encryption_password": wanted[login]})
                )
                temp.replace(path)
                pairs[login] = pair
    for user in seed.get("users", []):
        if user["login"] in pairs:
            user["key_pair"] = pairs[user["login"]]
            user.pop("encryption_password", None)
    return seed, list(wanted)


@dataclass
class Dracoon:
    base_url: str
    users: dict[str, dict]  # login -> seed user (with passwords)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v4"

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return http_json(method, f"{self.base_url}/emulator{path}", body)

    def nodes(self) -> list[dict]:
        return self.admin("GET", "/nodes")

    def node(self, path: str) -> dict | None:
        return next((n for n in self.nodes() if n["path"] == path), None)

    def logins_by_id(self) -> dict[int, str]:
        return {user["id"]: user["login"] for user in self.admin("GET", "/users")}


# -- S3 --------------------------------------------------------------------------------------


class GeneratedRecording:
    """A non-seekable stream of ``size`` random bytes (video is incompressible too) that
    hashes what it hands out, so the original never needs to exist on disk."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        count = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = os.urandom(count)
        self.remaining -= count
        self.sha256.update(data)
        return data


class HashingWriter:
    """Where the verifying download goes: counted and hashed, never stored."""

    def __init__(self) -> None:
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.sha256.update(data)
        return len(data)


def aws_client(service: str, endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.session.Session(
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    ).client(service, endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))


# -- following the service's log -------------------------------------------------------------


class LogFollower:
    """Reads the JSON lines the service appends to its log, as they come."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def records(self) -> Iterator[dict]:
        try:
            with self.path.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
        except OSError:
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    yield record


def record_time(record: dict) -> float | None:
    """The epoch time of a log record (python-json-logger's ``2026-01-31 12:00:00,123``)."""
    with contextlib.suppress(TypeError, ValueError):
        return datetime.strptime(record["time"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


# -- the demo --------------------------------------------------------------------------------


@dataclass
class Options:
    size: int
    timeout: float
    workers: int
    inject_fault: bool
    pid_file: Path | None


class Demo:
    def __init__(self, options: Options, run_dir: Path) -> None:
        self.options = options
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.conf = run_dir / "conf"
        self.stack = Stack(options.pid_file)
        self.started = time.monotonic()
        self.current = "starting"
        self.hint = f"logs are in {self.rel(self.logs)}/"
        self.moto_url = ""
        self.dracoon: Dracoon | None = None
        self.service: Child | None = None
        self.http = ""
        self.original_sha256 = ""
        self.message_id = ""
        self.key = ""
        self.transfer_seconds: float | None = None

    @staticmethod
    def rel(path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(PROJECT_ROOT))
        return str(path)

    # -- steps ------------------------------------------------------------------------------

    def run(self) -> None:
        self.logs.mkdir(parents=True)
        self.conf.mkdir(parents=True)
        step(
            f"recording-storage demo: a {mib(self.options.size)} recording, "
            f"run directory {self.rel(self.run_dir)}/"
        )
        self.current = "preparing the DRACOON seed"
        seed, _ = materialize_seed(yaml.safe_load((DEMO_DATA / "seed.yaml").read_text()))
        self.current = "starting the moto server"
        self.start_moto()
        self.current = "starting the DRACOON emulator"
        self.start_dracoon(seed)
        self.current = "writing the configuration"
        self.write_configuration()
        self.current = "putting the recording into S3"
        self.put_recording()
        self.current = "sending the job to SQS"
        self.send_message()
        self.current = "running the service"
        self.start_service()
        self.follow_transfer()
        self.current = "checking what happened"
        self.report()
        self.current = "verifying the download"
        self.verify()
        self.current = "stopping the service"
        self.stop_service()

    def start_moto(self) -> None:
        port = free_port()
        self.moto_url = f"http://127.0.0.1:{port}"
        log = self.logs / "moto.log"
        child = self.stack.start(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            log,
            child_env(),
        )

        def up() -> bool:
            if child.process.poll() is not None:
                raise DemoFailed(
                    f"the moto server exited ({child.process.returncode})",
                    f"see {self.rel(log)}:\n{tail(log)}",
                )
            with contextlib.suppress(OSError):
                return http_get(f"{self.moto_url}/moto-api/")[0] == 200
            return False

        wait_until(up, 60, "the moto server", f"see {self.rel(log)}")
        say(f"    moto server (S3 + SQS)   {self.moto_url}")

    def start_dracoon(self, seed: dict) -> None:
        seed_path = self.run_dir / "dracoon-seed.json"
        seed_path.write_text(json.dumps(seed, indent=1))
        out = self.logs / "dracoon-emulator.out"
        log = self.logs / "dracoon-emulator.log"
        argv = [bin_path("dracoon-emulator"), "--addr", "127.0.0.1:0", "--seed", str(seed_path)]
        process = self.stack.start("dracoon-emulator", argv, log, child_env(), stdout=out).process

        def listening() -> str | None:
            if process.poll() is not None:
                raise DemoFailed(
                    f"the DRACOON emulator exited ({process.returncode})",
                    f"see {self.rel(log)}:\n{tail(log)}",
                )
            match = re.search(r"^listening on (\S+)$", out.read_text(), re.MULTILINE)
            return match.group(1) if match else None

        base_url = wait_until(listening, 60, "the DRACOON emulator", f"see {self.rel(log)}")
        self.dracoon = Dracoon(base_url, {u["login"]: u for u in self._seed_users()})
        room = self.dracoon.node(f"/{PARENT_ROOM}")
        if room is None:
            raise DemoFailed(f"the seed has no room {PARENT_ROOM!r}", f"see {DEMO_DATA}/seed.yaml")
        self.parent_room = room
        members = [u for u in self.dracoon.users if u != INSTANCE_LOGIN]
        say(f"    DRACOON emulator         {base_url}")
        say(f"      instance account       {INSTANCE_LOGIN}")
        say(
            f"      parent room            /{PARENT_ROOM} (id {room['id']}, "
            f"{'encrypted' if room['isEncrypted'] else 'NOT encrypted'})"
        )
        say(f"      room members           {', '.join(members)}")

    def _seed_users(self) -> list[dict]:
        return yaml.safe_load((DEMO_DATA / "seed.yaml").read_text())["users"]

    def write_configuration(self) -> None:
        assert self.dracoon is not None
        service = self.dracoon.users[INSTANCE_LOGIN]
        instances = {
            DOMAIN: {
                "recordings.storage": "dracoon",
                "recordings.dracoon.base-url": self.dracoon.api_url,
                "recordings.dracoon.parent-room-id": self.parent_room["id"],
                "recordings.dracoon.login": INSTANCE_LOGIN,
                "recordings.dracoon.password": service["password"],
                "recordings.dracoon.encryption-password": service["encryption_password"],
            }
        }
        (self.conf / "instances.yaml").write_text(
            "# The demo's file configurator (configurator.url = file:instances.yaml).\n"
            + yaml.safe_dump(instances, sort_keys=False)
        )
        sqs = aws_client("sqs", self.moto_url)
        self.queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        topics = self.conf / "pubsub" / "sqs" / "topics.yml"
        topics.parent.mkdir(parents=True)
        topics.write_text(f"recordings: {self.queue_url}\n")
        self.http = f"127.0.0.1:{free_port()}"
        (self.conf / "app.conf").write_text(
            "# Generated by scripts/demo.py: the service on local stand-ins.\n"
            "logger.level = INFO\n"
            "logger.format = json\n"
            "configurator.url = file:instances.yaml\n"
            f"workers.FileTransferer.count = {self.options.workers}\n"
            "workers.FileTransferer.reportLevel = chunk\n"
            "workers.FileTransferer.queue = recordings\n"
            "workers.DracoonGlobalSharer.count = 1\n"
            "workers.DracoonGlobalSharer.jobDelayMinutes = 60\n"
            "workers.shutdownGraceSeconds = 10\n"
            f"aws.region = {REGION}\n"
            f"aws.endpointUrl = {self.moto_url}\n"
            "s3.chunkSize = 20MiB\n"
            "s3.removeAfterTransferring = true\n"
            f"s3.allowedBuckets = {BUCKET}\n"
            "sqs.waitTimeSeconds = 5\n"
            "sqs.visibilityTimeoutSeconds = 60\n"
            f"dracoon.baseUrl = {self.dracoon.api_url}\n"
            f"http.address = {self.http}\n"
        )
        say(f"    file configurator        {self.rel(self.conf / 'instances.yaml')} ({DOMAIN})")
        say(f"    SQS queue                {self.queue_url}")
        say(f"    service configuration    {self.rel(self.conf / 'app.conf')}")

    def put_recording(self) -> None:
        from boto3.s3.transfer import TransferConfig

        message = json.loads((DEMO_DATA / "message.json").read_text())
        self.key = message["storage"]["extra"]["aws.s3"]["keys"][0]
        s3 = aws_client("s3", self.moto_url)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        recording = GeneratedRecording(self.options.size)
        started = time.monotonic()
        s3.upload_fileobj(
            recording,
            BUCKET,
            self.key,
            Config=TransferConfig(multipart_chunksize=16 * MiB, max_concurrency=2),
        )
        self.original_sha256 = recording.sha256.hexdigest()
        step(
            f"S3: put s3://{BUCKET}/{self.key} ({mib(self.options.size)} of random bytes, "
            f"{time.monotonic() - started:.1f} s, sha256 {self.original_sha256[:16]}…)"
        )

    def send_message(self) -> None:
        message = json.loads((DEMO_DATA / "message.json").read_text())
        original_bucket = message["storage"]["extra"]["aws.s3"]["bucket"]
        message["storage"]["extra"]["aws.s3"]["bucket"] = BUCKET
        (self.run_dir / "message.json").write_text(json.dumps(message, indent=2))
        sqs = aws_client("sqs", self.moto_url)
        self.message_id = sqs.send_message(
            QueueUrl=self.queue_url, MessageBody=json.dumps(message)
        )["MessageId"]
        target = message["storage"]["extra"]["dracoon"]["targets"][0]
        step(
            f"SQS: sent the original README's sample message (bucket {original_bucket} → "
            f"{BUCKET}); message id {self.message_id}"
        )
        say(
            f"    target {target['path']!r}, expiration {target['expiration']!r}, "
            f"instance {message['instance']['domain']}"
        )
        if self.options.inject_fault:
            assert self.dracoon is not None
            self.dracoon.admin(
                "POST",
                "/faults",
                {
                    "rules": [
                        {"method": "POST", "path": "^/api/v4/nodes/files/uploads$", "status": 403},
                    ]
                },
            )
            say("    (--inject-fault: the DRACOON emulator refuses every upload with 403)")

    def start_service(self) -> None:
        argv = [bin_path("recording-storage"), "--config", str(self.conf / "app.conf"), "serve"]
        log = self.logs / "service.log"
        # Progress reports (15006, reportLevel = chunk) four times a second instead of every 5 s.
        env = child_env(RECORDING_STORAGE_PROGRESS_INTERVAL="0.25")
        self.service = self.stack.start("recording-storage serve", argv, log, env)
        self.hint = f"the service's log is {self.rel(log)} (all logs in {self.rel(self.logs)}/)"
        step(
            f"service: recording-storage serve (master, {self.options.workers} FileTransferer(s), "
            f"DracoonGlobalSharer); /healthcheck and /metrics on http://{self.http}"
        )

    def follow_transfer(self) -> None:
        """Show the service's progress until the job succeeds, fails or times out."""
        from recording_storage.progress import ProgressDisplay

        assert self.service is not None
        follower = LogFollower(self.service.log)
        # Rate and ETA are measured on the service's log timestamps, not on when we read them.
        self._record_time = time.time()
        display = ProgressDisplay(
            sys.stdout, label="    transfer", clock=lambda: self._record_time, live_interval=0
        )
        deadline = time.monotonic() + self.options.timeout
        healthy = False
        job_started: float | None = None
        while True:
            if self.service.process.poll() is not None:
                display.finish()
                raise DemoFailed(
                    f"recording-storage serve exited with status {self.service.process.returncode}",
                    f"{self.hint}:\n{tail(self.service.log)}",
                )
            for record in follower.records():
                done = self._on_record(record, display)
                if record.get("job") == self.message_id and job_started is None:
                    job_started = time.monotonic()
                if done:
                    display.finish()
                    return
            if not healthy:
                with contextlib.suppress(OSError):
                    status, body = http_get(f"http://{self.http}/healthcheck", timeout=2)
                    if status == 200:
                        healthy = True
                        display.clear()
                        say(f"    healthcheck: {status} {body.decode().strip()}")
            if time.monotonic() > deadline:
                display.finish()
                raise DemoFailed(
                    f"the job did not finish within {self.options.timeout:.0f} s "
                    "(raise it with --timeout)",
                    f"{self.hint}:\n{tail(self.service.log)}",
                )
            time.sleep(0.2)

    def _on_record(self, record: dict, display) -> bool:
        """Show one log record if it matters; True when the job is done (raises on failure)."""
        code = record.get("code")
        level = str(record.get("level", "")).upper()
        text = str(record.get("message", ""))
        if record.get("job") == self.message_id:
            if "bytes_done" in record and "bytes_total" in record:
                self._record_time = record_time(record) or time.time()
                display(int(record["bytes_done"]), int(record["bytes_total"]))
                return False
            display.clear()
            say(f"    [service {code}] {text}")
            if code == 15008:
                self.transfer_seconds = float(record.get("duration_seconds") or 0) or None
            if code in (15007, 15013):
                raise DemoFailed(f"the service could not transfer the job: {text}", self.hint)
            return code == 15008  # profiling is logged right after the message is deleted
        if level in ("WARNING", "ERROR", "CRITICAL") or code in (15015, 15016, 15017):
            display.clear()
            say(f"    [service {code} {level.lower()}] {text}")
        return False

    def report(self) -> None:
        assert self.dracoon is not None
        step("what happened")
        parent_path = f"/{PARENT_ROOM}"
        nodes = self.dracoon.nodes()
        rooms = [
            n for n in nodes if n["type"] == "room" and n["path"].startswith(parent_path + "/")
        ]
        files = [
            n for n in nodes if n["type"] == "file" and n["path"].startswith(parent_path + "/")
        ]
        say(f"    rooms created      {', '.join(n['path'] for n in rooms) or 'none'}")
        if len(files) != 1:
            raise DemoFailed(
                f"expected one file below {parent_path}, found {len(files)}", self.hint
            )
        node = files[0]
        self.file_node = node
        expires = node.get("expireAt") or "never"
        say(
            f"    file uploaded      {node['path']} (id {node['id']}): {mib(node['size'])}, "
            f"{'encrypted' if node['isEncrypted'] else 'NOT encrypted'}, expires {expires}"
        )
        if node["size"] != self.options.size:
            raise DemoFailed(
                f"the file has {node['size']} bytes, the recording {self.options.size}", self.hint
            )
        if not node["isEncrypted"]:
            raise DemoFailed("the file is not encrypted", self.hint)
        logins = self.dracoon.logins_by_id()
        holders = [logins.get(user_id, f"user {user_id}") for user_id in node["fileKeyUserIds"]]
        say(
            f"    file keys          {', '.join(holders)} "
            "(the uploader's own, plus one for every room reader)"
        )
        missing = [u for u in self.dracoon.users if u not in holders]
        if missing:
            raise DemoFailed(f"no file key for {', '.join(missing)}", self.hint)
        s3 = aws_client("s3", self.moto_url)
        try:
            s3.head_object(Bucket=BUCKET, Key=self.key)
            raise DemoFailed(f"s3://{BUCKET}/{self.key} still exists after the transfer", self.hint)
        except s3.exceptions.ClientError:
            say(f"    S3 object          s3://{BUCKET}/{self.key} removed")
        sqs = aws_client("sqs", self.moto_url)
        attributes = sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        left = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        say(f"    SQS message        {'deleted' if left == 0 else f'{left} message(s) left!'}")
        say(f"    metrics            {self._metrics_summary()}")

    def _metrics_summary(self) -> str:
        from prometheus_client.parser import text_string_to_metric_families

        status, body = http_get(f"http://{self.http}/metrics")
        if status != 200:
            return f"/metrics answered {status}"
        PREFIX = "recording_storage_"
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                values[sample.name] = values.get(sample.name, 0.0) + sample.value
        names = (
            "jobs_received_total",
            "jobs_succeeded_total",
            "jobs_failed_total",
            "bytes_transferred_total",
            "worker_restarts_total",
        )
        return ", ".join(
            f"{name.removesuffix('_total')} {values.get(PREFIX + name, 0):.0f}" for name in names
        )

    def verify(self) -> None:
        from recording_storage.dracoon.client import DracoonClient

        assert self.dracoon is not None
        member = self.dracoon.users[VERIFYING_MEMBER]
        client = DracoonClient(
            self.dracoon.base_url,
            VERIFYING_MEMBER,
            member["password"],
            encryption_password=member["encryption_password"],
        )
        started = time.monotonic()
        out = HashingWriter()
        try:
            client.download(self.file_node["id"], out)
        finally:
            client.close()
        seconds = time.monotonic() - started
        digest = out.sha256.hexdigest()
        if out.size != self.options.size or digest != self.original_sha256:
            raise DemoFailed(
                f"{VERIFYING_MEMBER}'s decrypted download differs from the original "
                f"({out.size} bytes, sha256 {digest[:16]}… vs {self.options.size} bytes, "
                f"{self.original_sha256[:16]}…)",
                self.hint,
            )
        step(
            f"verified: {VERIFYING_MEMBER} (second room member) downloaded and decrypted "
            f"{self.file_node['name']} in {seconds:.1f} s: {mib(out.size)}, sha256 {digest[:16]}… "
            "= the original"
        )

    def stop_service(self) -> None:
        assert self.service is not None
        step("stopping: the service (SIGTERM), the DRACOON emulator, the moto server")
        status = self.stack.stop(self.service, timeout=60)
        if status != 0:
            raise DemoFailed(
                f"recording-storage serve exited with status {status} on SIGTERM", self.hint
            )
        say("    recording-storage serve exited 0")

    def close(self) -> None:
        self.stack.stop_all()


def prune_old_runs(keep: int) -> None:
    runs = sorted(p for p in RUNS_DIR.glob("run-*") if p.is_dir())
    for old in runs[:-keep] if keep else runs:
        shutil.rmtree(old, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.sh",
        description="Run recording-storage end to end on local stand-ins (moto, the DRACOON "
        "emulator, a file configurator) and verify the result. Nothing to configure.",
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        default=100 * MiB,
        help="size of the generated recording, e.g. 100MB (default), 5MB, 1GB; 1024-based",
    )
    parser.add_argument("--quick", action="store_true", help="a 5 MB recording (what CI runs)")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        choices=range(1, 9),
        metavar="N",
        help="FileTransferer processes (default 2)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds the transfer may take (default 600)"
    )
    parser.add_argument(
        "--inject-fault",
        action="store_true",
        help="make the DRACOON emulator refuse uploads, to see how a failure "
        "is reported (exit status 1)",
    )
    parser.add_argument("--pid-file", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = Options(
        size=5 * MiB if args.quick else args.size,
        timeout=args.timeout,
        workers=args.workers,
        inject_fault=args.inject_fault,
        pid_file=args.pid_file,
    )

    def interrupted(signum: int, frame: object) -> None:
        raise Interrupted(signal.Signals(signum).name)

    # Set explicitly: a background job of a non-interactive shell starts with SIGINT ignored.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)

    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    prune_old_runs(KEPT_RUNS - 1)
    run_dir = RUNS_DIR / f"run-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    demo = Demo(options, run_dir)
    try:
        demo.run()
    except DemoFailed as failure:
        say()
        say(f"demo FAILED while {demo.current}: {failure}")
        if failure.hint:
            say(f"  {failure.hint}")
        if demo.rel(demo.logs) not in failure.hint:
            say(f"  logs: {demo.rel(demo.logs)}/")
        return 1
    except Interrupted as signal_name:
        say(f"\ndemo interrupted ({signal_name}) while {demo.current}; stopping what it started")
        return 130
    except Exception as error:  # a bug in the demo or an unexpected answer
        say(f"\ndemo FAILED while {demo.current}: {type(error).__name__}: {error}")
        say(f"  logs: {demo.rel(demo.logs)}/")
        return 1
    finally:
        # A second Ctrl-C (or the shell's TERM) must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.close()
    total = time.monotonic() - demo.started
    transfer = (
        f"; transfer {demo.transfer_seconds:.1f} s, "
        f"{options.size / demo.transfer_seconds / MiB:.1f} MiB/s"
        if demo.transfer_seconds
        else ""
    )
    say(f"demo OK in {total:.0f} s{transfer}. Logs: {demo.rel(demo.logs)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
