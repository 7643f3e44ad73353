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

How each stand-in is started and read is shared with the benchmark and the tests in
``scripts/local_world``; this file is the story of one run. Exit status: 0 success, 1 a step
failed (the message names the step and the logs), 2 usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from scripts.local_world.aws import REGION, boto3_client, clean_env, start_moto  # noqa: E402
from scripts.local_world.dracoon import (  # noqa: E402
    EmulatorAdmin,
    read_back,
    start_emulator,
    with_cached_key_pairs,
)
from scripts.local_world.http import http_get  # noqa: E402
from scripts.local_world.processes import Process, ProcessGroup, WorldError, free_port  # noqa: E402
from scripts.local_world.service import (  # noqa: E402
    JsonLog,
    instance,
    metric_samples,
    start_serve,
    write_config,
)

DEMO_DATA = PROJECT_ROOT / "scripts" / "demo"
RUNS_DIR = PROJECT_ROOT / "var" / "demo"
KEY_PAIR_CACHE = PROJECT_ROOT / ".cache" / "demo-keypairs"
KEPT_RUNS = 5

BUCKET = "demo-recordings"
QUEUE = "recording-storage-demo"
DOMAIN = "24slocal.new.com"
INSTANCE_LOGIN = "recordings-service"
PARENT_ROOM = "/Meeting recordings"
VERIFYING_MEMBER = "ben"
MiB = 2**20
METRICS = ("jobs_received", "jobs_succeeded", "jobs_failed", "bytes_transferred", "worker_restarts")


class DemoFailed(WorldError):
    """A step failed; ``str()`` says what, ``hint`` says where to look."""


class Interrupted(Exception):
    pass


def say(text: str = "") -> None:
    print(text, flush=True)


def step(text: str) -> None:
    say(f"==> {text}")


def rel(path: Path | str) -> str:
    """Paths as the reader sees them: relative to the project."""
    return str(path).replace(f"{PROJECT_ROOT}/", "")


def size_text(count: float) -> str:
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


@dataclass
class Options:
    size: int
    timeout: float
    workers: int
    inject_fault: bool
    pid_file: Path | None


class Demo:
    """One run: the steps in ``run``, in the order a reader follows them."""

    def __init__(self, options: Options, run_dir: Path) -> None:
        self.options = options
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.conf = run_dir / "conf"
        self.processes = ProcessGroup(options.pid_file)
        self.started = time.monotonic()
        self.current = "starting"
        self.hint = f"logs are in {rel(self.logs)}/"
        self.seed_users = {u["login"]: u for u in self.seed()["users"]}
        self.message = json.loads((DEMO_DATA / "message.json").read_text())
        self.key = self.message["storage"]["extra"]["aws.s3"]["keys"][0]
        self.transfer_seconds: float | None = None

    @staticmethod
    def seed() -> dict[str, Any]:
        return yaml.safe_load((DEMO_DATA / "seed.yaml").read_text())

    def run(self) -> None:
        self.logs.mkdir(parents=True)
        step(
            f"recording-storage demo: a {size_text(self.options.size)} recording, "
            f"run directory {rel(self.run_dir)}/"
        )
        for current, action in (
            ("starting the moto server", self.start_moto),
            ("starting the DRACOON emulator", self.start_dracoon),
            ("writing the configuration", self.write_configuration),
            ("putting the recording into S3", self.put_recording),
            ("sending the job to SQS", self.send_message),
            ("running the service", self.run_service),
            ("checking what happened", self.report),
            ("verifying the download", self.verify),
            ("stopping the service", self.stop_service),
        ):
            self.current = current
            action()

    # -- 1. stand-ins and configuration ---------------------------------------------------------

    def start_moto(self) -> None:
        self.moto_url, _ = start_moto(self.logs / "moto.log", self.processes)
        self.s3 = boto3_client("s3", self.moto_url)
        self.sqs = boto3_client("sqs", self.moto_url)
        say(f"    moto server (S3 + SQS)   {self.moto_url}")

    def start_dracoon(self) -> None:
        def announce(logins: list[str]) -> None:
            step(
                f"generating RSA-4096 key pairs for {', '.join(logins)} "
                f"(once; cached in {rel(KEY_PAIR_CACHE)}/)"
            )

        seed = with_cached_key_pairs(self.seed(), KEY_PAIR_CACHE, announce)
        base_url, _ = start_emulator(self.processes, seed, self.run_dir, self.logs)
        self.dracoon = EmulatorAdmin(base_url)
        room = self.dracoon.node(PARENT_ROOM)
        if room is None:
            raise DemoFailed(f"the seed has no room {PARENT_ROOM!r}", f"see {DEMO_DATA}/seed.yaml")
        self.parent_room_id = room["id"]
        members = [u for u in self.seed_users if u != INSTANCE_LOGIN]
        say(f"    DRACOON emulator         {base_url}")
        say(f"      instance account       {INSTANCE_LOGIN}")
        say(
            f"      parent room            {PARENT_ROOM} (id {room['id']}, "
            f"{'encrypted' if room['isEncrypted'] else 'NOT encrypted'})"
        )
        say(f"      room members           {', '.join(members)}")

    def write_configuration(self) -> None:
        account = self.seed_users[INSTANCE_LOGIN]
        self.queue_url = self.sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        self.http = f"127.0.0.1:{free_port()}"
        write_config(
            self.conf,
            {
                "logger.level": "INFO",
                "logger.format": "json",
                "configurator.url": "file:instances.yaml",
                "workers.FileTransferer.count": self.options.workers,
                "workers.FileTransferer.reportLevel": "chunk",
                "workers.FileTransferer.queue": "recordings",
                "workers.DracoonGlobalSharer.count": 1,
                "workers.DracoonGlobalSharer.jobDelayMinutes": 60,
                "workers.shutdownGraceSeconds": 10,
                "aws.region": REGION,
                "aws.endpointUrl": self.moto_url,
                "s3.chunkSize": "20MiB",
                "s3.removeAfterTransferring": "true",
                "s3.allowedBuckets": BUCKET,
                "sqs.waitTimeSeconds": 5,
                "sqs.visibilityTimeoutSeconds": 60,
                "dracoon.baseUrl": self.dracoon.api_url,
                "http.address": self.http,
            },
            instances={
                DOMAIN: instance(
                    self.dracoon.api_url,
                    self.parent_room_id,
                    INSTANCE_LOGIN,
                    account["password"],
                    account["encryption_password"],
                )
            },
            topics={"recordings": self.queue_url},
            header="Generated by scripts/demo.py: the service on local stand-ins.",
        )
        say(f"    file configurator        {rel(self.conf / 'instances.yaml')} ({DOMAIN})")
        say(f"    SQS queue                {self.queue_url}")
        say(f"    service configuration    {rel(self.conf / 'app.conf')}")

    # -- 2. the recording and the job -----------------------------------------------------------

    def put_recording(self) -> None:
        from boto3.s3.transfer import TransferConfig

        self.s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        recording = GeneratedRecording(self.options.size)
        started = time.monotonic()
        chunks = TransferConfig(multipart_chunksize=16 * MiB, max_concurrency=2)
        self.s3.upload_fileobj(recording, BUCKET, self.key, Config=chunks)
        self.original_sha256 = recording.sha256.hexdigest()
        step(
            f"S3: put s3://{BUCKET}/{self.key} ({size_text(self.options.size)} of random bytes, "
            f"{time.monotonic() - started:.1f} s, sha256 {self.original_sha256[:16]}…)"
        )

    def send_message(self) -> None:
        s3_source = self.message["storage"]["extra"]["aws.s3"]
        original_bucket, s3_source["bucket"] = s3_source["bucket"], BUCKET
        (self.run_dir / "message.json").write_text(json.dumps(self.message, indent=2))
        body = json.dumps(self.message)
        self.message_id = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)[
            "MessageId"
        ]
        target = self.message["storage"]["extra"]["dracoon"]["targets"][0]
        step(
            f"SQS: sent the original README's sample message (bucket {original_bucket} → "
            f"{BUCKET}); message id {self.message_id}"
        )
        say(
            f"    target {target['path']!r}, expiration {target['expiration']!r}, "
            f"instance {self.message['instance']['domain']}"
        )
        if self.options.inject_fault:
            self.dracoon.refuse("POST", "^/api/v4/nodes/files/uploads$", 403)
            say("    (--inject-fault: the DRACOON emulator refuses every upload with 403)")

    # -- 3. the service ---------------------------------------------------------------------------

    def run_service(self) -> None:
        log = self.logs / "service.log"
        # Progress reports (15006, reportLevel = chunk) four times a second instead of every 5 s.
        env = clean_env(RECORDING_STORAGE_PROGRESS_INTERVAL="0.25")
        self.service = start_serve(self.processes, self.conf / "app.conf", log, env)
        self.hint = f"the service's log is {rel(log)} (all logs in {rel(self.logs)}/)"
        step(
            f"service: recording-storage serve (master, {self.options.workers} FileTransferer(s), "
            f"DracoonGlobalSharer); /healthcheck and /metrics on http://{self.http}"
        )
        Progress(self, self.service).follow()

    # -- 4. what happened, 5. the second member's download, 6. stop ------------------------------

    def report(self) -> None:
        step("what happened")
        rooms = self.dracoon.below(PARENT_ROOM, "room")
        files = self.dracoon.below(PARENT_ROOM, "file")
        say(f"    rooms created      {', '.join(n['path'] for n in rooms) or 'none'}")
        if len(files) != 1:
            raise DemoFailed(
                f"expected one file below {PARENT_ROOM}, found {len(files)}", self.hint
            )
        self.file = node = files[0]
        say(
            f"    file uploaded      {node['path']} (id {node['id']}): {size_text(node['size'])}, "
            f"{'encrypted' if node['isEncrypted'] else 'NOT encrypted'}, "
            f"expires {node.get('expireAt') or 'never'}"
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
        missing = [login for login in self.seed_users if login not in holders]
        if missing:
            raise DemoFailed(f"no file key for {', '.join(missing)}", self.hint)
        with contextlib.suppress(self.s3.exceptions.ClientError):
            self.s3.head_object(Bucket=BUCKET, Key=self.key)
            raise DemoFailed(f"s3://{BUCKET}/{self.key} still exists after the transfer", self.hint)
        say(f"    S3 object          s3://{BUCKET}/{self.key} removed")
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        left = sum(int(count) for count in attributes.values())
        say(f"    SQS message        {'deleted' if left == 0 else f'{left} message(s) left!'}")
        say(f"    metrics            {self.metrics_summary()}")

    def metrics_summary(self) -> str:
        status, body = http_get(f"http://{self.http}/metrics")
        if status != 200:
            return f"/metrics answered {status}"
        totals: dict[str, float] = {}
        for (name, _), value in metric_samples(body.decode()).items():
            totals[name] = totals.get(name, 0.0) + value
        return ", ".join(
            f"{name} {totals.get(f'recording_storage_{name}_total', 0):.0f}" for name in METRICS
        )

    def verify(self) -> None:
        member = self.seed_users[VERIFYING_MEMBER]
        got = read_back(
            self.dracoon.api_url,
            VERIFYING_MEMBER,
            member["password"],
            member["encryption_password"],
            self.file["id"],
        )
        if got.size != self.options.size or got.sha256 != self.original_sha256:
            raise DemoFailed(
                f"{VERIFYING_MEMBER}'s decrypted download differs from the original "
                f"({got.size} bytes, sha256 {got.sha256[:16]}… vs {self.options.size} bytes, "
                f"{self.original_sha256[:16]}…)",
                self.hint,
            )
        step(
            f"verified: {VERIFYING_MEMBER} (second room member) downloaded and decrypted "
            f"{self.file['name']} in {got.seconds:.1f} s: {size_text(got.size)}, "
            f"sha256 {got.sha256[:16]}… = the original"
        )

    def stop_service(self) -> None:
        step("stopping: the service (SIGTERM), the DRACOON emulator, the moto server")
        status = self.processes.stop(self.service, timeout=60)
        if status != 0:
            raise DemoFailed(
                f"recording-storage serve exited with status {status} on SIGTERM", self.hint
            )
        say("    recording-storage serve exited 0")


class Progress:
    """Shows the service's own log while the job runs: its progress as one line, its other
    records about the job, and warnings. Returns when the job succeeded; raises when it
    failed, the service died, or ``--timeout`` passed."""

    def __init__(self, demo: Demo, service: Process) -> None:
        from recording_storage.progress import ProgressDisplay

        self.demo = demo
        self.service = service
        # Rate and ETA are measured on the service's log timestamps, not on when we read them.
        self.log_time = time.time()
        self.display = ProgressDisplay(
            sys.stdout, label="    transfer", clock=lambda: self.log_time, live_interval=0
        )

    def follow(self) -> None:
        demo, log = self.demo, JsonLog(self.service.log)
        deadline = time.monotonic() + demo.options.timeout
        healthy = False
        try:
            while True:
                if self.service.popen.poll() is not None:
                    raise self.failed(f"recording-storage serve exited with status "
                                      f"{self.service.popen.returncode}")  # fmt: skip
                if any(self.show(record) for record in log.new_records()):
                    return
                if not healthy:
                    healthy = self.show_health()
                if time.monotonic() > deadline:
                    raise self.failed(
                        f"the job did not finish within {demo.options.timeout:.0f} s "
                        "(raise it with --timeout)"
                    )
                time.sleep(0.2)
        finally:
            self.display.finish()

    def failed(self, what: str) -> DemoFailed:
        from scripts.local_world.processes import tail

        return DemoFailed(what, f"{self.demo.hint}:\n{tail(self.service.log)}")

    def show_health(self) -> bool:
        with contextlib.suppress(OSError):
            status, body = http_get(f"http://{self.demo.http}/healthcheck", timeout=2)
            if status == 200:
                self.display.clear()
                say(f"    healthcheck: {status} {body.decode().strip()}")
                return True
        return False

    def show(self, record: dict[str, Any]) -> bool:
        """Show one log record if it matters; True when the job is done (raises on failure)."""
        code = record.get("code")
        level = str(record.get("level", "")).upper()
        text = str(record.get("message", ""))
        if record.get("job") == self.demo.message_id:
            if "bytes_done" in record and "bytes_total" in record:
                self.log_time = record_time(record) or time.time()
                self.display(int(record["bytes_done"]), int(record["bytes_total"]))
                return False
            self.display.clear()
            say(f"    [service {code}] {text}")
            if code == 15008:
                self.demo.transfer_seconds = float(record.get("duration_seconds") or 0) or None
            if code in (15007, 15013):
                raise DemoFailed(f"the service could not transfer the job: {text}", self.demo.hint)
            return code == 15008  # profiling is logged right after the message is deleted
        if level in ("WARNING", "ERROR", "CRITICAL") or code in (15015, 15016, 15017):
            self.display.clear()
            say(f"    [service {code} {level.lower()}] {text}")
        return False


def record_time(record: dict[str, Any]) -> float | None:
    """The epoch time of a log record (python-json-logger's ``2026-01-31 12:00:00,123``)."""
    with contextlib.suppress(TypeError, ValueError):
        return datetime.strptime(record["time"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


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
    for old in sorted(p for p in RUNS_DIR.glob("run-*") if p.is_dir())[: -(KEPT_RUNS - 1)]:
        shutil.rmtree(old, ignore_errors=True)
    demo = Demo(options, RUNS_DIR / f"run-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}")
    logs = rel(demo.logs)
    try:
        demo.run()
    except WorldError as failure:  # DemoFailed, or a stand-in that did not come up
        say(f"\ndemo FAILED while {demo.current}: {rel(str(failure))}")
        if failure.hint:
            say(f"  {rel(failure.hint)}")
        if logs not in failure.hint:
            say(f"  logs: {logs}/")
        return 1
    except Interrupted as signal_name:
        say(f"\ndemo interrupted ({signal_name}) while {demo.current}; stopping what it started")
        return 130
    except Exception as error:  # a bug in the demo or an unexpected answer
        say(f"\ndemo FAILED while {demo.current}: {type(error).__name__}: {error}")
        say(f"  logs: {logs}/")
        return 1
    finally:
        # A second Ctrl-C (or the shell's TERM) must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.processes.stop_all()
    total = time.monotonic() - demo.started
    transfer = demo.transfer_seconds
    rate = (
        f"; transfer {transfer:.1f} s, {options.size / transfer / MiB:.1f} MiB/s"
        if transfer
        else ""
    )
    say(f"demo OK in {total:.0f} s{rate}. Logs: {logs}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
