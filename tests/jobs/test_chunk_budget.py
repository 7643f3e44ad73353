"""Memory does not grow with the number of targets (issue 13, item 8).

Upload buffers come from one budget per process (``dracoon.client.chunk_budget``); a
read-once branch (``jobs.tee``) tells its upload when its next chunk can be read without
waiting for another target, and only then does the upload take a buffer. These tests check
the budget's rules, the window of the shared source, and - over real HTTP (emulator, moto) -
that one recording into many rooms at once holds no more than the budget (budget accounting
and tracemalloc), with targets proceeding at different speeds, and stores every file right.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import tracemalloc

import pytest

from recording_storage.aws.s3 import head_object
from recording_storage.aws.session import make_s3_client
from recording_storage.config import load_settings
from recording_storage.dracoon.client.chunk_budget import ChunkBudget, process_budget
from recording_storage.jobs.runner import JobRunner
from recording_storage.jobs.tee import SharedSource
from recording_storage.waits import Signal
from tests.jobs.conftest import readme_message

MiB = 1024 * 1024
KiB = 1024


# -- the budget ---------------------------------------------------------------------------


def test_the_budget_waits_when_spent_and_reuses_what_comes_back():
    budget = ChunkBudget(3 * KiB)
    first, second, third = (budget.acquire(KiB) for _ in range(3))
    assert budget.acquire(KiB, deadline=time.monotonic() + 0.05) is None  # nothing came back
    assert budget.held == 3 * KiB and budget.peak == 3 * KiB

    got = []
    waiter = threading.Thread(target=lambda: got.append(budget.acquire(KiB)))
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive()  # back-pressure: nothing is free
    budget.release(second)
    waiter.join(timeout=5)
    assert got and got[0] is second  # the released buffer is reused, not a new one
    assert budget.waits >= 1 and budget.peak == 3 * KiB

    for buffer in (first, third, got[0]):
        budget.release(buffer)
    assert budget.held == 0
    budget.trim()
    assert budget.acquire(KiB) is not second  # trimmed: the spare buffers were dropped


def test_one_buffer_larger_than_the_budget_is_granted_when_nothing_else_is_held():
    budget = ChunkBudget(KiB)
    big = budget.acquire(4 * KiB)
    assert len(big) == 4 * KiB
    assert budget.acquire(KiB, deadline=time.monotonic()) is None
    budget.release(big)
    assert budget.acquire(KiB) is not None


def test_a_wait_for_memory_ends_at_the_next_change_of_its_upload_without_a_release():
    """The pipeline waits for memory until a change of its own upload (a chunk sent, the
    job cancelled): the change ends the wait at once -- no timer, no release needed."""
    budget = ChunkBudget(KiB)
    held = budget.acquire(KiB)
    changed = Signal()
    got: list[bytearray | None] = []
    waiter = threading.Thread(target=lambda: got.append(budget.acquire(KiB, until=changed.mark())))
    waiter.start()
    waiter.join(timeout=0.2)
    assert waiter.is_alive()  # back-pressure: it waits (no deadline)
    changed.notify()
    waiter.join(timeout=10)
    assert not waiter.is_alive() and got == [None] and budget.held == KiB
    budget.release(held)


# -- the shared source's window -----------------------------------------------------------


@pytest.fixture
def s3(aws_env, tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("")
    return make_s3_client(load_settings(conf, env=aws_env))


def test_a_branch_is_readable_only_when_no_other_branch_holds_it_back(s3, s3_bucket):
    chunk = 64 * KiB
    data = os.urandom(3 * chunk)
    s3_bucket.put("k", data)
    shared = SharedSource(s3, head_object(s3, s3_bucket.name, "k"), chunk, 2)
    with shared.branch(0) as fast, shared.branch(1) as slow:  # closed: the reader too
        assert fast.wait_readable(chunk, timeout=5)
        assert fast.read(chunk) == data[:chunk]
        # The next chunk needs the window to move, which waits for the slow branch: not now.
        assert not fast.wait_readable(chunk, timeout=0.3)
        assert slow.wait_readable(chunk, timeout=5)
        assert slow.read(chunk) == data[:chunk]
        assert fast.wait_readable(chunk, timeout=5)  # now it moves
        assert shared.largest_window == chunk


def test_reads_larger_than_the_window_are_served_without_deadlock(s3, s3_bucket):
    # S3-direct parts (>= 5 MiB) can be larger than s3.chunkSize: the window grows to them.
    chunk, part = 64 * KiB, 160 * KiB
    data = os.urandom(5 * chunk + 11)
    s3_bucket.put("k", data)
    shared = SharedSource(s3, head_object(s3, s3_bucket.name, "k"), chunk, 3)
    results: dict[int, bytes] = {}

    def consume(index: int, piece: int) -> None:
        out = bytearray()
        with shared.branch(index) as branch:
            while True:
                assert branch.wait_readable(piece, timeout=20)
                buffer = bytearray(piece)
                count = branch.readinto(buffer)
                if not count:
                    break
                out += buffer[:count]
        results[index] = bytes(out)

    threads = [
        threading.Thread(target=consume, args=(index, piece))
        for index, piece in enumerate((part, chunk, part))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {0: data, 1: data, 2: data}
    assert shared.largest_window <= 2 * part


# -- one recording into many rooms, over real HTTP -------------------------------------------


def run_job(service, s3_bucket, targets: int, key: str, **env):
    """Run one job of ``key`` into ``targets`` rooms in this process; returns the budget's
    peak and the peak of Python allocations during the job (tracemalloc). A warm-up job
    first builds what a worker keeps between jobs (boto3's models alone are ~12 MiB)."""
    runner = JobRunner(service.settings(**env))
    s3_bucket.put("warm-up.mp4", b"w" * 1000)
    warm_up = readme_message(
        bucket=s3_bucket.name, keys=["warm-up.mp4"], targets=[{"path": "warm-up"}]
    )
    runner.run(json.dumps(warm_up), job_id="warm-up")
    message = readme_message(
        bucket=s3_bucket.name,
        keys=[key],
        targets=[{"path": f"many/t{index:02d}"} for index in range(targets)],
    )
    budget = process_budget()
    budget.reset_peak()
    tracemalloc.start()
    try:
        result = runner.run(json.dumps(message), job_id=f"job-{targets}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        runner.close()
    assert len(result.files) == targets
    return budget.peak, peak


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_many_targets_hold_no_more_than_the_budget(service, s3_bucket, aws_env):
    """16 targets at 1 MiB chunks would hold 48 MiB of upload buffers (3 per target) without
    the budget; with a 4 MiB budget they hold at most 4, and every file is right."""
    chunk, targets = MiB, 16
    data = os.urandom(4 * chunk + 3)
    s3_bucket.put("m/talk.mp4", data)
    # Different speeds: a third of the chunk uploads are held back by the emulator.
    service.admin("POST", "/emulator/faults", {"rules": [
        {"method": "POST", "path": r"/uploads/[^/]+$", "latency_ms": 80, "rate": 0.33}
    ]})  # fmt: skip
    held, traced = run_job(
        service, s3_bucket, targets, "m/talk.mp4",
        RS_S3_CHUNKSIZE=str(chunk), RS_DRACOON_UPLOADMEMORY="4MiB",
        RS_S3_REMOVEAFTERTRANSFERRING="false",
    )  # fmt: skip
    service.admin("DELETE", "/emulator/faults")

    unbounded = targets * 3 * chunk
    assert held <= 4 * MiB, held
    assert process_budget().held == 0  # every buffer came back
    # tracemalloc sees every Python allocation of the job (buffers, the shared window,
    # HTTP, the in-process emulator's side): far below what per-target pipelines need.
    assert traced < unbounded / 3, (traced, unbounded)
    digest = hashlib.sha256(data).digest()
    for index in range(targets):
        [file] = service.files_in(f"/Recordings/many/t{index:02d}")
        assert file["size"] == len(data)
        assert hashlib.sha256(service.download_as("alice", file["id"])).digest() == digest
