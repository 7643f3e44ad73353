"""Benchmark driver: runs the scenarios and prints one table of ratios (see docs/performance.md).

``scripts/bench.sh [--quick] [--size 1G] [--memory-size 4G] [--scenarios 0,1,2,3,4,5,6] ...``
Each ratio compares ours with a baseline measured in the same run, so a loaded machine moves
both. Exit status: 0 unless a workload failed or stored a wrong file (targets never fail it).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench import scenarios  # noqa: E402
from scripts.bench.world import MiB, World  # noqa: E402
from scripts.bench_upload import parse_size  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench.sh", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI smoke run: small sizes, few jobs (well under a minute)",
    )
    parser.add_argument("--size", default="1G", help="recording size of scenarios 1-3 (1G)")
    parser.add_argument(
        "--memory-size", default="4G", help="the larger transfer of scenario 5 (4G)"
    )
    parser.add_argument("--chunk-size", default="20M", help="s3.chunkSize (20M, the default)")
    parser.add_argument(
        "--modes", default="classic,s3", help="DRACOON upload modes of scenarios 1-2: classic,s3"
    )
    parser.add_argument("--scenarios", default="0,1,2,3,4,5,6", help="which scenarios to run")
    parser.add_argument(
        "--targets", default="1,10,50", help="scenario 6: target rooms per job, one run each"
    )
    parser.add_argument(
        "--targets-size", default="100M", help="scenario 6: size of the recording (100M)"
    )
    parser.add_argument(
        "--upload-memory",
        help="scenario 6: dracoon.uploadMemory (default: the service's, 160M); a huge value "
        "shows what the targets would hold without the budget",
    )
    parser.add_argument(
        "--jobs", default="200", help="scenario 4: number of jobs, a run each (e.g. 200,2000)"
    )
    parser.add_argument("--job-size", default="1M", help="scenario 4: size of each recording")
    parser.add_argument(
        "--workers", default="4", help="scenario 4: worker processes, a run each (e.g. 1,2,4)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="scenario 1: runs of ours and the baseline (best counts)",
    )
    parser.add_argument("--soak-jobs", type=int, default=10000, help="soak: jobs (10000)")
    parser.add_argument("--soak-every", type=int, default=500, help="soak: jobs per sample")
    parser.add_argument("--soak-size", default="64K", help="soak: size of each recording")
    parser.add_argument("--soak-workers", type=int, default=2, help="soak: worker processes")
    parser.add_argument(
        "--soak-warmup",
        type=int,
        help="soak: jobs before the RSS comparison starts (default: a quarter of the jobs done)",
    )
    parser.add_argument(
        "--soak-max-seconds",
        type=float,
        help="soak: start no round after this; reports the jobs done (default: no limit)",
    )
    parser.add_argument(
        "--soak-keep-rooms",
        action="store_true",
        help="soak: keep each round's room (default: deleted after the round, so the "
        "emulator does not slow down as it fills)",
    )
    parser.add_argument(
        "--receive-batch", type=int, default=1, help="scenario 4: sqs.receiveBatch (1)"
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="scenario 4 without its requests-only baseline"
    )
    parser.add_argument("--no-sdk", action="store_true", help="skip the official SDK (2)")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="write a cProfile of our first scenario-1 transfer to FILE",
    )
    parser.add_argument(
        "--profile-service",
        metavar="DIR",
        help="scenario 4: a cProfile of every process of the service, one DIR/NAME-PID.prof "
        "each (from start-up; the profiler slows the service, so its numbers are not "
        "comparable)",
    )
    options = parser.parse_args(argv)  # fmt: skip
    if options.quick:
        options.size, options.memory_size, options.chunk_size = "48M", "96M", "4M"
        options.jobs, options.job_size = "20", "256K"
        options.targets, options.targets_size = "1,10", "16M"
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    size = parse_size(options.size)
    chunk = parse_size(options.chunk_size)
    chosen = set(options.scenarios.split(","))
    modes = tuple(m for m in options.modes.split(",") if m)
    load = os.getloadavg()
    started = time.monotonic()
    rows: list[scenarios.Row] = []
    details: list[str] = []
    profile_service = None
    if options.profile_service:
        profile_service = str(Path(options.profile_service).resolve())
        os.makedirs(profile_service, exist_ok=True)
    world = World(chunk, modes=tuple(dict.fromkeys(("classic", *modes))),
                  profile_service=profile_service)  # fmt: skip
    try:
        if "0" in chosen:
            say("0: S3 servers")
            rows += scenarios.s3_servers(world, size)
        single_results = {}
        for mode in modes:
            if chosen & {"1", "2", "4", "5"} and not chosen <= {"0", "4"}:
                say(f"1/2: one recording, {mode}")
                found, result = scenarios.single(
                    world, mode, size, options.repeat,
                    sdk="2" in chosen and not options.no_sdk, profile=options.profile,
                )  # fmt: skip
                if "1" in chosen or "2" in chosen:
                    rows += found
                single_results[mode] = result
        if "3" in chosen:
            say("3: three targets")
            rows += scenarios.three_targets(world, size)
        if "4" in chosen:
            job_size = parse_size(options.job_size)
            single = single_results.get("classic")
            runs = [(int(jobs), int(workers)) for jobs in options.jobs.split(",") if jobs
                    for workers in options.workers.split(",") if workers]  # fmt: skip
            for jobs, workers in runs:
                say(f"4: {jobs} small recordings through SQS, {workers} worker(s), "
                    f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
                run = scenarios.many_small(
                    world, jobs, job_size, workers,
                    extra_conf=(f"sqs.receiveBatch = {options.receive_batch}",
                                # the service's default: first deliveries at the floor
                                "s3.removeAfterTransferring = true"),
                )  # fmt: skip
                if options.no_baseline:
                    rows += scenarios.small_rows(run, job_size, single and scenarios.mib_s(single))
                else:
                    say(f"4: requests-only baseline, {jobs} jobs, {workers} worker(s), "
                        f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
                    base = scenarios.requests_only(world, jobs, job_size, workers)
                    rows += scenarios.versus_rows(run, base, job_size)
                for row in rows[-2:]:  # each run's result at once: a long run may be cut short
                    say(f"  {row.measure}: {row.ours} vs {row.baseline}"
                        + (f" = {row.ratio:.2f}x" if row.ratio is not None else "")
                        + f", load {os.getloadavg()[0]:.1f}; {row.note}")  # fmt: skip
                details.append(run.requests.markdown(
                    run.jobs, workers, f"4 ({jobs} jobs, {workers} worker(s))"))  # fmt: skip
        if "soak" in chosen:
            say(f"soak: {options.soak_jobs} jobs")
            result = scenarios.soak(
                world, options.soak_jobs, parse_size(options.soak_size), options.soak_workers,
                options.soak_every, max_seconds=options.soak_max_seconds,
                delete_rooms=not options.soak_keep_rooms, say=say,
            )  # fmt: skip
            rows += scenarios.soak_rows(result, options.soak_warmup)
        if "5" in chosen and "classic" in single_results:
            say("5: memory")
            rows += scenarios.memory(
                world, single_results["classic"], size, parse_size(options.memory_size)
            )
        if "6" in chosen:
            say(f"6: memory vs targets ({options.targets})")
            counts = [int(count) for count in options.targets.split(",") if count]
            memory = parse_size(options.upload_memory) if options.upload_memory else None
            rows += scenarios.memory_per_targets(
                world, parse_size(options.targets_size), counts, memory
            )
    finally:
        world.close()
    print_table(rows, details, options, chunk, load, time.monotonic() - started)
    return 1 if any("WRONG" in row.note for row in rows) else 0


def say(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


def print_table(rows, details, options, chunk, load, seconds) -> None:
    argv = " ".join(sys.argv[1:])
    print(
        f"\nrecording-storage benchmark: {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, s3.chunkSize {chunk / MiB:g} MiB; load average before "
        f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, after {os.getloadavg()[0]:.2f}; "
        f"{seconds:.0f} s; command: scripts/bench.sh {argv}".rstrip()
    )
    header = ("scenario", "measure", "ours", "baseline", "ratio", "target", "met", "note")
    table = [header] + [
        (
            r.scenario,
            r.measure,
            r.ours,
            r.baseline,
            f"{r.ratio:.2f}x" if r.ratio is not None else "",
            r.target,
            {True: "yes", False: "NO", None: ""}[r.met],
            r.note,
        )
        for r in rows
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for line in table[1:]:
        print("| " + " | ".join(line) + " |")
    for detail in details:
        print()
        print(detail)


if __name__ == "__main__":
    sys.exit(main())
