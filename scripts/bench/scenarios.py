"""The benchmark scenarios; each measures ours and its baseline in the same run.

Every function returns ``Row``s for the table. Targets are printed as met/missed, never
asserted: on a shared machine a miss is a number to look at, not a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from recording_storage.dracoon.client.chunk_budget import DEFAULT_CAPACITY as DEFAULT_UPLOAD_MEMORY
from scripts.bench.world import BUCKET, ROOT, MiB, World, message
from scripts.local_world.aws import boto3_client
from scripts.local_world.service import start_serve

WARMUP_KEY = "warmup.bin"


@dataclass
class Row:
    scenario: str
    measure: str
    ours: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""


def run_child(
    world: World, kind: str, args: dict, timeout: float = 1800, env: dict | None = None
) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.bench.workloads", kind, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env or world.child_env(),
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"workload {kind} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def mib_s(result: dict) -> float:
    return result["bytes"] / MiB / result["seconds"]


def rss_mib(result: dict) -> float:
    return result["rss_kib"] / 1024


def our_transfer(
    world: World,
    mode: str,
    name: str,
    messages: list[dict],
    profile: str | None = None,
    conf: tuple[str, ...] = (),
) -> dict:
    world.put_object(WARMUP_KEY, 64 * 1024)
    conf_path = world.configure(mode, name, extra=conf)
    args = {
        "conf": str(conf_path),
        "warmup": message([WARMUP_KEY], [f"warmup-{name}"]),
        "messages": messages,
        "profile": profile,
    }
    return run_child(world, "transfer", args)


def check_stored(world: World, mode: str, result: dict, size: int) -> bool:
    """Every file the job reported exists in the emulator with the right size."""
    nodes = {n["id"]: n for n in world.emulators[mode].admin.nodes()}
    files = [f for job in result["jobs"] for f in job["files"]]
    return bool(files) and all(nodes.get(f[2], {}).get("size") == size for f in files)


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


# -- 0: the S3 server ---------------------------------------------------------------------


def s3_servers(world: World, size: int) -> list[Row]:
    """Ranged-GET throughput of moto vs the bench S3 server (same object, same boto3 calls)."""
    size = min(size, 256 * MiB)
    key = f"probe-{size}"
    path = world.put_object(key, size)
    moto = boto3_client("s3", world.moto())
    import contextlib

    with contextlib.suppress(moto.exceptions.BucketAlreadyOwnedByYou):
        moto.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
    with open(path, "rb") as source:
        moto.upload_fileobj(source, BUCKET, key)
    fast = boto3_client("s3", world.s3_url)

    def speed(client) -> float:
        started = time.perf_counter()
        for start in range(0, size, world.chunk_size):
            end = min(start + world.chunk_size, size) - 1
            client.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={start}-{end}")["Body"].read()
        return size / MiB / (time.perf_counter() - started)

    ours, theirs = speed(fast), speed(moto)
    moto.delete_object(Bucket=BUCKET, Key=key)
    return [
        Row("0 S3 server", f"ranged GET MiB/s, {size // MiB} MiB object",
            f"{ours:.0f} (bench S3)", f"{theirs:.0f} (moto)", ours / theirs, "-", None,
            "moto reads the whole object per ranged GET; the benchmarks use the bench S3 server")
    ]  # fmt: skip


# -- 1 + 2: one recording, vs the plain copy and the official SDK ----------------------------


def single(world: World, mode: str, size: int, repeat: int, sdk: bool, profile: str | None):
    key = f"recording-{size}.mp4"
    path = world.put_object(key, size)
    emulator = world.emulators[mode]
    ours_runs, base_runs = [], []
    ok = True
    for attempt in range(repeat):
        base = run_child(world, "plain_copy", {
            "conf": str(world.configure(mode, "plain")), "api_url": emulator.api_url,
            "user": "bench", "password": "bench-pw", "bucket": BUCKET, "key": key,
            "room": emulator.rooms["BenchPlain"], "name": f"plain-{attempt}.bin",
            "chunk": world.chunk_size, "mode": mode,
        })  # fmt: skip
        stored = emulator.files(f"plain-{attempt}.bin")
        ok = ok and bool(stored) and stored[0]["size"] == size
        base_runs.append(base)
        ours = our_transfer(
            world, mode, f"single-{mode}", [message([key], [f"single-{mode}-{attempt}"])],
            profile=profile if attempt == 0 else None,
        )  # fmt: skip
        ok = ok and check_stored(world, mode, ours, size)
        ours_runs.append(ours)
    ours, base = best(ours_runs), best(base_runs)
    ratio = mib_s(ours) / mib_s(base)
    rows = [
        Row(f"1 one recording ({mode})", f"MiB/s, {size // MiB} MiB into an encrypted room",
            f"{mib_s(ours):.0f}", f"{mib_s(base):.0f} (plain copy)", ratio, ">= 0.8",
            ratio >= 0.8, f"peak RSS {rss_mib(ours):.0f} vs {rss_mib(base):.0f} MiB; CPU s "
            f"{ours['cpu_seconds']:.2f} vs {base['cpu_seconds']:.2f}"
            + ("" if ok else "; STORED FILE WRONG")),
    ]  # fmt: skip
    if sdk:
        from scripts.bench_upload import ENCRYPTION_PASSWORD, PASSWORD, USER
        from scripts.bench_upload import run_child as run_upload_child

        sdk_result = run_upload_child("sdk", {
            "base_url": emulator.base_url, "room": emulator.rooms["BenchEncrypted"],
            "name": f"sdk-{mode}.bin", "file": str(path), "encrypted": True,
            "chunk": 32 * MiB, "user": USER, "password": PASSWORD,
            "encryption_password": ENCRYPTION_PASSWORD,
        })  # fmt: skip
        stored = emulator.files(f"sdk-{mode}.bin")
        sdk_ok = bool(stored) and stored[0]["size"] == size
        ratio = mib_s(ours) / mib_s(sdk_result)
        rows.append(
            Row(f"2 vs official SDK ({mode})", "MiB/s (SDK: local file, 32 MiB chunks)",
                f"{mib_s(ours):.0f}", f"{mib_s(sdk_result):.0f} (SDK 1.13.0)", ratio, ">= 2",
                ratio >= 2, f"SDK peak RSS {rss_mib(sdk_result):.0f} MiB"
                + ("" if sdk_ok else "; SDK FILE WRONG"))
        )  # fmt: skip
    return rows, ours


# -- 3: one recording, three targets ---------------------------------------------------------


def three_targets(world: World, size: int) -> list[Row]:
    key = f"recording-{size}.mp4"
    world.put_object(key, size)
    rooms = ["three-a", "three-b", "three-c"]
    once = our_transfer(world, "classic", "three", [message([key], rooms)])
    apart = our_transfer(world, "classic", "apart", [message([key], [f"apart-{r}"]) for r in rooms])
    ok = check_stored(world, "classic", once, size) and check_stored(world, "classic", apart, size)
    ratio = apart["seconds"] / once["seconds"]
    return [
        Row("3 three targets", f"seconds for {size // MiB} MiB x 3 rooms",
            f"{once['seconds']:.2f} (one job)", f"{apart['seconds']:.2f} (3 transfers)",
            ratio, "> 1 (faster)", ratio > 1,
            f"peak RSS {rss_mib(once):.0f} vs {rss_mib(apart):.0f} MiB"
            + ("" if ok else "; STORED FILE WRONG")),
    ]  # fmt: skip


# -- 4: many small recordings through SQS ---------------------------------------------------


COMPLETION = "PUT /api/v4/uploads/***"


@dataclass
class SmallRun:
    """One measured run of scenario 4 (after the warm-up jobs)."""

    jobs: int
    workers: int
    seconds: float
    service_cpu: float  # user+sys of the master and its workers, measured jobs only
    others_cpu: dict  # the stand-ins' CPU over the same interval: emulator, moto, S3 server
    requests: object  # counting.RequestTable
    failed: int

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


def proc_cpu_seconds(pids) -> float:
    """user+sys CPU seconds of running processes (``/proc/PID/stat``; gone ones count 0)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def session_pids(session: int) -> list[int]:
    """Every process of a session (the service: master + workers, ``start_new_session``)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # field 6: session id
            pids.append(int(entry))
    return pids


def stand_in_cpu(world: World) -> dict:
    """CPU seconds so far of the bench's stand-ins: the emulator (this process's threads,
    with the SQS proxy and configurator), moto and the S3 server."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    moto = world._moto.pid if world._moto is not None else None
    return {
        "emulator+proxies": usage.ru_utime + usage.ru_stime,
        "moto": proc_cpu_seconds([moto] if moto else []),
        "S3 server": proc_cpu_seconds([world.s3.pid]),
    }


def send_jobs(sqs, queue_url: str, keys: list[str], room: str, first_id: int = 0) -> None:
    for first in range(0, len(keys), 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(message([keys[i]], [room], first_id + i))}
            for i in range(first, min(first + 10, len(keys)))
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def stage_redeliveries(world, sqs, queue_url: str, keys: list[str], room: str) -> None:
    """Send the jobs and receive each once (not deleted), so the service gets each on its
    second delivery (``ApproximateReceiveCount`` 2). The service's receives wait in the
    counting proxy meanwhile; its long poll in flight (``sqs.waitTimeSeconds = 1``) ends
    empty before anything is sent."""
    proxy = world._sqs_proxy
    proxy.receiving.clear()
    try:
        time.sleep(1.5)
        send_jobs(sqs, queue_url, keys, room)
        handles: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(handles) < len(keys) and time.monotonic() < deadline:
            answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                         VisibilityTimeout=120, WaitTimeSeconds=1)  # fmt: skip
            handles.update({m["MessageId"]: m["ReceiptHandle"] for m in answer.get("Messages", [])})
        if len(handles) < len(keys):
            raise RuntimeError(f"staging redeliveries: received {len(handles)} of {len(keys)}")
        items = list(handles.values())
        for first in range(0, len(items), 10):
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(items[first:first + 10])
            ])  # fmt: skip
    finally:
        proxy.receiving.set()


def wait_drained(world, sqs, queue_url, service, log_path, uploads_before, jobs, deadline):
    """Until ``jobs`` more uploads completed and the queue is empty (every message deleted)."""
    while True:
        done = world.counter.snapshot()[COMPLETION] - uploads_before
        if done >= jobs:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=["ApproximateNumberOfMessages",
                                "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]  # fmt: skip
            if not any(int(value) for value in attributes.values()):
                return
        if service.popen.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(
                f"service (exit {service.popen.poll()}) did not finish {jobs} jobs "
                f"({done} uploads):"
                f"\n{tail}"
            )
        time.sleep(0.05)


def many_small(
    world: World,
    jobs: int,
    size: int,
    workers: int,
    *,
    extra_conf: tuple[str, ...] = (),
    redelivered: bool = False,
) -> SmallRun:
    """``jobs`` recordings of ``size`` bytes through SQS into ``recording-storage serve`` with
    ``workers`` FileTransferers, measured after 2 warm-up jobs per worker (a warm service).

    ``redelivered``: every measured message reaches the service on its second delivery (the
    driver receives each once while the service's receives are held), as after a crash; the
    time then includes that staging."""
    from scripts.bench.counting import RequestTable, dracoon_kind

    world.fresh_emulator("classic")  # the same empty emulator for ours and the baseline
    moto = boto3_client("sqs", world.moto())  # the driver's sends are not counted
    queue_url = moto.create_queue(QueueName=f"bench-{os.getpid()}-{time.time_ns()}")["QueueUrl"]
    run = f"{workers}w-{time.time_ns()}"  # each run its own keys and room
    warmup = [f"small/{run}/warm-{index:04d}.mp4" for index in range(2 * workers)]
    keys = [f"small/{run}/{index:05d}.mp4" for index in range(jobs)]
    room = f"small-{run}"
    for key in warmup + keys:
        world.put_object(key, size)
    configurator = world.configurator()
    conf = world.configure(
        "classic", f"service-{run}", workers=workers, queue_url=queue_url,
        configurator=configurator, extra=extra_conf,
    )  # fmt: skip
    log_path = conf.parent / "service.log"
    service = start_serve(world.processes, conf, log_path, world.profiled_env())
    try:
        deadline = time.monotonic() + max(180, jobs * 2)
        uploads = world.counter.snapshot()[COMPLETION]
        send_jobs(moto, queue_url, warmup, room, first_id=100000)
        wait_drained(world, moto, queue_url, service, log_path, uploads, len(warmup), deadline)
        before = (world.counter.snapshot(), world.s3_counts(), world.sqs_counts(),
                  configurator.snapshot())  # fmt: skip
        pids = session_pids(service.pid)
        cpu_before, others_before = proc_cpu_seconds(pids), stand_in_cpu(world)
        started = time.perf_counter()
        if redelivered:
            stage_redeliveries(world, moto, queue_url, keys, room)
        else:
            send_jobs(moto, queue_url, keys, room)
        wait_drained(world, moto, queue_url, service, log_path, before[0][COMPLETION], jobs,
                     deadline)  # fmt: skip
        seconds = time.perf_counter() - started
        service_cpu = proc_cpu_seconds(pids) - cpu_before
        others = {k: v - others_before[k] for k, v in stand_in_cpu(world).items()}
        after = (world.counter.snapshot(), world.s3_counts(), world.sqs_counts(),
                 configurator.snapshot())  # fmt: skip
    finally:
        world.processes.stop(service, timeout=60)
    table = RequestTable()
    dracoon = [c for c in (before[0], after[0])]
    for counts in dracoon:
        for endpoint in [e for e in counts if e.startswith(("GET /emulator", "POST /emulator"))]:
            del counts[endpoint]
    table.add("DRACOON", dracoon[0], dracoon[1], kind=dracoon_kind)
    table.add("S3", before[1], after[1])
    table.add("SQS", before[2], after[2])
    table.add("configurator", before[3], after[3])
    failed = sum(
        1 for line in log_path.read_text(errors="replace").splitlines() if '"15013"' in line
    )
    return SmallRun(jobs, workers, seconds, service_cpu, others, table, failed)


def requests_only(world: World, jobs: int, size: int, workers: int) -> SmallRun:
    """The same jobs' requests made by a minimal script (``workloads.requests_only``) with
    ``workers`` processes, into a fresh encrypted room: the baseline of scenario 4."""
    from scripts.bench.counting import RequestTable, dracoon_kind
    from scripts.bench.world import READER, reader_key_pair
    from scripts.bench_upload import PASSWORD, USER, key_pair

    world.fresh_emulator("classic")
    moto = boto3_client("sqs", world.moto())
    queue_url = moto.create_queue(QueueName=f"base-{os.getpid()}-{time.time_ns()}")["QueueUrl"]
    run = f"base-{workers}w-{time.time_ns()}"
    keys = [f"small/{run}/{index:05d}.mp4" for index in range(jobs)]
    for key in keys:
        world.put_object(key, size)
    send_jobs(moto, queue_url, keys, "unused")
    conf = world.configure("classic", run, queue_url=queue_url)
    emulator = world.emulators["classic"]
    before = (world.counter.snapshot(), world.s3_counts(), world.sqs_counts())
    others_before = stand_in_cpu(world)
    result = run_child(world, "requests_only", {
        "conf": str(conf), "api_url": emulator.api_url, "user": USER, "password": PASSWORD,
        "parent_room": emulator.rooms["BenchEncrypted"], "room_name": run, "bucket": BUCKET,
        "queue_url": queue_url, "jobs": jobs, "workers": workers,
        "owner_public": key_pair()["publicKeyContainer"],
        "reader_public": reader_key_pair()["publicKeyContainer"],
    }, env=world.profiled_env())  # fmt: skip
    others = {k: v - others_before[k] for k, v in stand_in_cpu(world).items()}
    after = (world.counter.snapshot(), world.s3_counts(), world.sqs_counts())
    table = RequestTable()
    table.add("DRACOON", before[0], after[0], kind=dracoon_kind)
    table.add("S3", before[1], after[1])
    table.add("SQS", before[2], after[2])
    assert READER
    return SmallRun(result["jobs"], workers, result["seconds"], result["cpu_seconds"], others,
                    table, 0)  # fmt: skip


def versus_rows(ours: SmallRun, base: SmallRun, size: int) -> list[Row]:
    """Scenario 4 against its requests-only baseline: jobs/s and CPU per job."""
    speed = ours.rate / base.rate
    ours_cpu, base_cpu = ours.service_cpu / ours.jobs, base.service_cpu / base.jobs
    stand_ins = ", ".join(
        f"{name} {ours.others_cpu[name] / ours.jobs * 1000:.1f} vs "
        f"{base.others_cpu[name] / base.jobs * 1000:.1f}"
        for name in ours.others_cpu
    )
    wall = ours.seconds * (os.cpu_count() or 1)
    busy = sum(ours.others_cpu.values()) / wall * 100
    return [
        Row("4 small recordings via SQS",
            f"jobs/s, {ours.jobs} x {size // 1024} KiB, {ours.workers} worker(s), warm",
            f"{ours.rate:.1f}", f"{base.rate:.1f} (requests only)", speed, "-", None,
            f"DRACOON requests/job {dracoon_per_job(ours):.2f} vs {dracoon_per_job(base):.2f}; "
            f"stand-ins' CPU ms/job {stand_ins}; stand-ins {busy:.0f} % of all cores"
            + (f"; {ours.failed} unexpected errors" if ours.failed else "")),
        Row("4 service CPU per job", f"ms, {ours.workers} worker(s)",
            f"{ours_cpu * 1000:.1f}", f"{base_cpu * 1000:.1f} (requests only)",
            ours_cpu / base_cpu, "<= 1.5", ours_cpu / base_cpu <= 1.5,
            "user+sys of the service's processes only"),
    ]  # fmt: skip


def dracoon_per_job(run: SmallRun) -> float:
    return run.requests.total("DRACOON", per_process=False) / run.jobs


def small_rows(run: SmallRun, size: int, single_mib_s: float | None) -> list[Row]:
    others = ", ".join(f"{k} {v / run.jobs * 1000:.1f}" for k, v in run.others_cpu.items())
    note = f"service CPU {run.service_cpu / run.jobs * 1000:.1f} ms/job; stand-ins' CPU {others}"
    if single_mib_s:
        bytes_seconds = run.jobs * size / MiB / single_mib_s
        note += f"; {(run.seconds - bytes_seconds) / run.jobs * 1000:.0f} ms/job beyond bytes"
    if run.failed:
        note += f"; {run.failed} unexpected errors"
    return [
        Row("4 small recordings via SQS",
            f"jobs/s, {run.jobs} x {size // 1024} KiB, {run.workers} workers (warm)",
            f"{run.rate:.1f} jobs/s",
            f"{single_mib_s / (size / MiB):.1f} (bytes alone)" if single_mib_s else "-",
            None, "-", None, note),
    ]  # fmt: skip


# -- soak: many small jobs, RSS and open files of every service process --------------------


def process_sample(pid: int) -> tuple[int, int] | None:
    """(RSS in KiB, open file descriptors) of a running process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (x, y) points (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


@dataclass
class SoakResult:
    jobs: int
    sharer_passes: int
    samples: dict  # process name -> [(jobs done, rss KiB, fds)]
    failed: int
    seconds: float = 0.0
    planned: int = 0  # jobs asked for; more than ``jobs`` when --soak-max-seconds ended it

    def report(self, warmup_fraction: float = 0.25, warmup_jobs: int | None = None) -> list[dict]:
        """Per process, after the warm-up (``warmup_jobs``, else that fraction of the jobs
        done): RSS first/last, slope per 1,000 jobs, fd range."""
        first = self.jobs * warmup_fraction if warmup_jobs is None else warmup_jobs
        rows = []
        for name, points in sorted(self.samples.items()):
            warm = [p for p in points if p[0] >= first] or points
            rows.append({
                "process": name,
                "rss_first_mib": warm[0][1] / 1024, "rss_last_mib": warm[-1][1] / 1024,
                "rss_slope_mib_per_1000_jobs": slope([(j, r / 1024) for j, r, _ in warm]) * 1000,
                "fds_min": min(f for _, _, f in warm), "fds_max": max(f for _, _, f in warm),
                "samples": len(warm), "from_jobs": warm[0][0], "to_jobs": warm[-1][0],
            })  # fmt: skip
        return rows


def soak(world: World, jobs: int, size: int, workers: int, every: int,
         sharer_seconds: float = 2.0, *, max_seconds: float | None = None,
         delete_rooms: bool = True, say=None) -> SoakResult:  # fmt: skip
    """``jobs`` jobs of ``size`` bytes through ``serve`` in rounds of ``every``; after each
    round (queue drained) the RSS and open fds of the master and each worker are sampled.
    The sharer runs every ``sharer_seconds`` meanwhile (a pass every few rounds).

    ``delete_rooms``: each round's room is deleted (for good, as DRACOON deletes rooms) once
    the round is sampled, so the emulator holds one round's files at most and its listings
    and key queries do not slow down as the run goes on -- the service still sees a new
    room path every round (its room cache must not grow with them). ``max_seconds``: no new
    round after that; the result says how many jobs were done. ``say``: a callable that gets
    one progress line per round (the samples so far survive an interrupted run there)."""
    from recording_storage.dracoon.client import DracoonClient
    from scripts.bench_upload import PASSWORD, USER

    started = time.monotonic()
    moto = boto3_client("sqs", world.moto())
    queue_url = moto.create_queue(QueueName=f"soak-{os.getpid()}-{time.time_ns()}")["QueueUrl"]
    run = f"soak-{time.time_ns()}"
    keys = [f"small/{run}/{index:05d}.mp4" for index in range(every)]
    for key in keys:
        world.put_object(key, size)
    conf = world.configure(
        "classic", run, workers=workers, queue_url=queue_url, configurator=world.configurator(),
        extra=("workers.DracoonGlobalSharer.count = 1",),
    )  # fmt: skip
    http = next(line.split("=", 1)[1].strip() for line in conf.read_text().splitlines()
                if line.startswith("http.address"))  # fmt: skip
    log_path = conf.parent / "service.log"
    env = {**world.child_env(), "RECORDING_STORAGE_SHARER_DELAY_SECONDS": str(sharer_seconds)}
    emulator = world.emulators["classic"]
    admin = DracoonClient(emulator.base_url, USER, PASSWORD)  # deletes finished rounds' rooms
    service = start_serve(world.processes, conf, log_path, env)
    samples: dict[str, list] = {}
    done = 0
    try:
        deadline = time.monotonic() + max(300, jobs * 2)
        while done < jobs:
            if max_seconds is not None and done and time.monotonic() - started > max_seconds:
                break
            count = min(every, jobs - done)
            uploads = world.counter.snapshot()[COMPLETION]
            # The same objects each round into a new room: no growing room listings.
            room = f"{run}-{done}"
            send_jobs(moto, queue_url, keys[:count], room, first_id=done)
            wait_drained(world, moto, queue_url, service, log_path, uploads, count, deadline)
            done += count
            line = []
            for pid in session_pids(service.pid):
                sample = process_sample(pid)
                if sample is not None:
                    name = "master" if pid == service.pid else f"child {pid}"  # forked
                    samples.setdefault(name, []).append((done, *sample))
                    line.append(f"{name} {sample[0] / 1024:.1f} MiB {sample[1]} fds")
            if delete_rooms:
                parent = emulator.rooms["BenchEncrypted"]
                node = admin.resolve_room_path(parent, room, create=False)
                admin._nodes.delete_node(node.id)  # no public room delete: the bench's own use
                admin.forget_rooms()
            if say is not None:
                say(f"soak: {done} jobs, {time.monotonic() - started:.0f} s, load "
                    f"{os.getloadavg()[0]:.1f}: " + "; ".join(line))  # fmt: skip
        sharer = metric_total(http, "recording_storage_sharer_runs_total")
    finally:
        admin.close()
        world.processes.stop(service, timeout=60)
    failed = sum(1 for line in log_path.read_text(errors="replace").splitlines()
                 if '"15013"' in line)  # fmt: skip
    return SoakResult(done, int(sharer), samples, failed, time.monotonic() - started, jobs)


def metric_total(address: str, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name))  # fmt: skip


def soak_rows(result: SoakResult, warmup_jobs: int | None = None) -> list[Row]:
    rows = []
    done = f"{result.jobs} jobs" + (
        f" of {result.planned} (time limit)" if result.planned > result.jobs else ""
    )
    for item in result.report(warmup_jobs=warmup_jobs):
        rows.append(Row(
            f"soak {item['process']}", f"RSS MiB at job {item['to_jobs']}, {done}",
            f"{item['rss_last_mib']:.1f}",
            f"{item['rss_first_mib']:.1f} (job {item['from_jobs']})",
            item["rss_last_mib"] / item["rss_first_mib"], "flat (<= 1.1)",
            item["rss_last_mib"] / item["rss_first_mib"] <= 1.1,
            f"slope {item['rss_slope_mib_per_1000_jobs']:+.2f} MiB/1000 jobs; open fds "
            f"{item['fds_min']}-{item['fds_max']}; {result.sharer_passes} sharer passes"
            + (f"; {result.failed} unexpected errors" if result.failed else ""),
        ))  # fmt: skip
    return rows


# -- 5: memory ------------------------------------------------------------------------------


def memory(world: World, small: dict, small_size: int, big_size: int) -> list[Row]:
    key = f"recording-{big_size}.mp4"
    world.put_object(key, big_size)
    big = our_transfer(world, "classic", "memory", [message([key], ["memory"])])
    ok = check_stored(world, "classic", big, big_size)
    world.object_path(key).unlink()
    ratio = rss_mib(big) / rss_mib(small)
    bound = 3 * world.chunk_size / MiB + 80
    within = max(rss_mib(big), rss_mib(small)) <= bound
    return [
        Row("5 memory per worker", f"peak RSS MiB, {big_size // MiB} vs {small_size // MiB} MiB",
            f"{rss_mib(big):.0f}", f"{rss_mib(small):.0f}", ratio, "0.9-1.1",
            0.9 <= ratio <= 1.1, ""),
        Row("5 memory bound", "peak RSS MiB <= 3 x chunk + 80 MiB",
            f"{max(rss_mib(big), rss_mib(small)):.0f}", f"{bound:.0f} (bound)",
            None, "<= bound", within, "" if ok else "STORED FILE WRONG"),
    ]  # fmt: skip


# -- 6: memory vs number of targets ----------------------------------------------------------


def memory_per_targets(
    world: World, size: int, counts: list[int], upload_memory: int | None = None
) -> list[Row]:
    """Peak RSS of a worker running one job of one recording into 1, 10, 50 rooms at once.

    Each count runs in a fresh process (its own VmHWM). Without a shared budget every target
    held ~3 chunk buffers; now all uploads of the process share ``dracoon.uploadMemory``, so
    the peak must stay under one bound whatever the count.
    """
    key = f"targets-{size}.mp4"
    world.put_object(key, size)
    chunk_mib = world.chunk_size / MiB
    budget_mib = (upload_memory or DEFAULT_UPLOAD_MEMORY) / MiB
    conf = (f"dracoon.uploadMemory = {upload_memory}",) if upload_memory else ()
    bound = budget_mib + 3 * chunk_mib + 120
    results = {}
    ok = True
    for count in counts:
        rooms = [f"targets-{count}-{index:02d}" for index in range(count)]
        result = our_transfer(
            world, "classic", f"targets-{count}", [message([key], rooms)], conf=conf
        )
        ok = ok and check_stored(world, "classic", result, size)
        results[count] = result
    first = results[counts[0]]
    rows = []
    for count in counts:
        result = results[count]
        ratio = rss_mib(result) / rss_mib(first)
        rows.append(
            Row(f"6 memory vs targets ({count})",
                f"peak RSS MiB, {size // MiB} MiB into {count} room(s)",
                f"{rss_mib(result):.0f}", f"{rss_mib(first):.0f} ({counts[0]} target)",
                ratio, f"<= {bound:.0f} MiB", rss_mib(result) <= bound,
                f"{mib_s(result):.0f} MiB/s uploaded; bound = uploadMemory {budget_mib:.0f} "
                f"+ 3 x chunk + 120 MiB" + ("" if ok else "; STORED FILE WRONG"))
        )  # fmt: skip
    return rows


def scratch_profile_path() -> str:
    return os.path.join(tempfile.gettempdir(), f"bench-transfer-{os.getpid()}.prof")
