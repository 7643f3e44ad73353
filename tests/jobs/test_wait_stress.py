"""Lost wake-ups in the upload waits would hang, so hammer them where nothing else wakes.

Since 468e49e an upload waits for a slot, its reader, its senders, memory and its shared
source only on notifications: with a ``waits.CancelEvent`` as the job's cancel no wait has
a timer to fall back on (``waits.recheck_at`` is None). A notification fired between a
waiter's check and its wait would therefore leave the upload stuck for good. Here several
read-once branches of one S3 object (moto, real HTTP) are uploaded at once through a budget
far smaller than they want, with senders answering after random short delays, round after
round; some rounds are cancelled at a random moment. Every round must end (a hang is a lost
wake-up), every uncancelled upload must have sent exactly the object's bytes, and every
buffer must be back in the budget.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time

import pytest

from recording_storage.aws.s3 import head_object
from recording_storage.aws.session import make_s3_client
from recording_storage.config import load_settings
from recording_storage.dracoon.client.chunk_budget import ChunkBudget
from recording_storage.dracoon.client.errors import UploadCancelledError
from recording_storage.dracoon.client.upload import _Pipeline
from recording_storage.jobs.tee import SharedSource
from recording_storage.waits import CancelEvent, recheck_at
from tests.support.upload_jobs import upload_job

pytestmark = pytest.mark.timeout(300)

KiB = 1024
CHUNK = 4 * KiB
BRANCHES = 3
ROUNDS = 100
ROUND_SECONDS = 15  # bounds a hang only: a round takes well under a second


@pytest.fixture
def s3(aws_env, tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("")
    return make_s3_client(load_settings(conf, env=aws_env))


def _upload(shared, index, cancel, budget, size, rng_seed, outcomes) -> None:
    rng = random.Random(rng_seed)
    sent: dict[int, bytes] = {}
    lock = threading.Lock()

    slow_sends = rng.random() < 0.5  # else answered at once: the reader's is the last news

    def send(chunk: int, _offset: int, view: memoryview) -> str:
        if slow_sends:
            time.sleep(rng.random() * 0.004)
        with lock:
            sent[chunk] = bytes(view)
        return "etag"

    chunks = [(offset, min(CHUNK, size - offset)) for offset in range(0, size, CHUNK)]
    try:
        with shared.branch(index) as branch:
            pipeline = _Pipeline(upload_job(branch, cancel, size, CHUNK), CHUNK, 2, True, budget)
            pipeline.run(chunks, send)
        outcomes[index] = b"".join(sent[i] for i in range(len(chunks)))
    except BaseException as exc:
        outcomes[index] = exc


@pytest.fixture
def thread_switches_often():
    """Switch threads every few microseconds (default 5 ms): a notification then often
    falls between a waiter's check and its wait, where a lost wake-up hides."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_read_once_uploads_through_a_tight_budget_never_miss_a_wake_up(
    s3, s3_bucket, thread_switches_often
):
    size = 7 * CHUNK + 3
    data = os.urandom(size)
    s3_bucket.put("k", data)
    info = head_object(s3, s3_bucket.name, "k")
    budget = ChunkBudget(2 * CHUNK)  # 3 uploads of up to 4 buffers each share 2
    rng = random.Random(16)
    cancels_seen = 0
    for round_ in range(ROUNDS):
        cancel = CancelEvent()
        assert recheck_at(cancel) is None  # no timer to fall back on
        shared = SharedSource(s3, info, CHUNK, BRANCHES)
        outcomes: dict[int, object] = {}
        threads = [
            threading.Thread(
                target=_upload,
                args=(shared, index, cancel, budget, size, rng.random(), outcomes),
                name=f"stress-upload-{index}",
                daemon=True,
            )
            for index in range(BRANCHES)
        ]
        cancelled = round_ % 4 == 3
        for thread in threads:
            thread.start()
        if cancelled:
            time.sleep(rng.random() * 0.02)
            cancel.set()
        deadline = time.monotonic() + ROUND_SECONDS
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [thread.name for thread in threads if thread.is_alive()]
        if stuck:
            cancel.set()  # wakes every wait: the run does not hang on them
        assert not stuck, f"round {round_}: {stuck} never woke up (lost wake-up)"
        for index in range(BRANCHES):
            outcome = outcomes[index]
            if cancelled and isinstance(outcome, UploadCancelledError):
                cancels_seen += 1
                continue
            assert outcome == data, f"round {round_}, upload {index}: {outcome!r:.200}"
        assert budget.held == 0, f"round {round_}: {budget.held} bytes never given back"
    assert cancels_seen, "no round was cancelled while its uploads waited"
