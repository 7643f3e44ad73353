"""The benchmark scenarios; each measures ours and its baseline in the same run.

Every function returns ``Row``s for the table. Targets are printed as met/missed, never
asserted: on a shared machine a miss is a number to look at, not a failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from recording_storage.dracoon.client.chunk_budget import DEFAULT_CAPACITY as DEFAULT_UPLOAD_MEMORY
from scripts.bench.world import BUCKET, ROOT, MiB, World, message

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


def run_child(world: World, kind: str, args: dict, timeout: float = 1800) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.bench.workloads", kind, json.dumps(args)],
        capture_output=True,
        text=True,
        env=world.child_env(),
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
    nodes = {n["id"]: n for n in world.emulators[mode].admin("GET", "/emulator/nodes")}
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
    moto = world.boto3_client("s3", world.moto())
    import contextlib

    with contextlib.suppress(moto.exceptions.BucketAlreadyOwnedByYou):
        moto.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
    with open(path, "rb") as source:
        moto.upload_fileobj(source, BUCKET, key)
    fast = world.boto3_client("s3", world.s3_url)

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


PER_PROCESS = (
    "POST /oauth/token",
    "GET /api/v4/user/account/keypairs",
    "GET /api/v4/config/info/general",
)


def many_small(world: World, jobs: int, size: int, workers: int, single_mib_s: float):
    import boto3  # noqa: F401 - fail early if missing

    sqs = world.boto3_client("sqs", world.moto())
    queue_url = sqs.create_queue(QueueName=f"bench-{os.getpid()}-{time.time_ns()}")["QueueUrl"]
    keys = [f"small/{index:04d}.mp4" for index in range(jobs)]
    for key in keys:
        world.put_object(key, size)
    conf = world.configure("classic", "service", workers=workers, queue_url=queue_url)
    before = world.counter.snapshot()
    log_path = world.dir / "service.log"
    with open(log_path, "wb") as log:
        service = subprocess.Popen(
            [sys.executable, "-m", "recording_storage.cli", "--config", str(conf), "serve"],
            cwd=ROOT, env=world.child_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        completion = "PUT /api/v4/uploads/***"
        time.sleep(0.5)
        started = time.perf_counter()
        for first in range(0, jobs, 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(message([keys[i]], ["small"], i))}
                for i in range(first, min(first + 10, jobs))
            ]
            sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        deadline = time.monotonic() + max(120, jobs * 2)
        while world.counter.snapshot()[completion] - before[completion] < jobs:
            if service.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"service did not finish {jobs} jobs:\n{tail}")
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(service.pid, signal.SIGKILL)
    counts = world.counter.snapshot() - before
    failed = sum(
        1 for line in log_path.read_text(errors="replace").splitlines() if '"15013"' in line
    )
    rate = jobs / seconds
    bytes_seconds = jobs * size / MiB / single_mib_s  # the same bytes as one big transfer
    overhead_ms = (seconds - bytes_seconds) / jobs * 1000
    per_job = ", ".join(
        f"{endpoint} {count / jobs:.2f}"
        for endpoint, count in sorted(counts.items(), key=lambda item: -item[1])
        if not endpoint.startswith(("GET /emulator", "POST /emulator"))
    )
    cached = ", ".join(f"{e} {counts.get(e, 0)}" for e in PER_PROCESS)
    rows = [
        Row("4 small recordings via SQS", f"jobs/s, {jobs} x {size // 1024} KiB, {workers} workers",
            f"{rate:.1f} jobs/s", f"{single_mib_s / (size / MiB):.1f} (bytes alone)",
            None, "-", None,
            f"{overhead_ms:.0f} ms/job beyond bytes; per process (total): {cached}"
            + (f"; {failed} unexpected errors" if failed else "")),
    ]  # fmt: skip
    return rows, per_job


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
