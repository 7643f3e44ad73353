"""The shared upload budget with S3-direct uploads (issue 13, item 8): parts are at least
5 MiB, larger than a 64 KiB ``s3.chunkSize``, so the read-once window must grow to a part
and the budget (6 MiB: one part at a time) must let three targets take turns without
deadlock. Real HTTP: the emulator in S3-direct mode and the moto server."""

from __future__ import annotations

import hashlib
import os

import pytest

from recording_storage.dracoon.client.chunk_budget import process_budget
from tests.jobs.test_chunk_budget import MiB, run_job
from tests.support.emulator_fixtures import default_seed


@pytest.fixture
def emulator(emulator_factory, test_key_pairs):
    """The jobs' ``service`` world, but DRACOON answers with S3-direct uploads."""
    return emulator_factory(default_seed(test_key_pairs, s3_direct=True))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_parts_larger_than_the_window_take_turns_in_a_small_budget(service, s3_bucket, aws_env):
    data = os.urandom(11 * MiB + 5)  # 3 parts of 5, 5 and 1 MiB
    s3_bucket.put("m/talk.mp4", data)
    held, _traced = run_job(
        service, s3_bucket, 3, "m/talk.mp4",
        RS_DRACOON_UPLOADMEMORY="6MiB", RS_S3_REMOVEAFTERTRANSFERRING="false",
    )  # fmt: skip
    assert 5 * MiB <= held <= 6 * MiB, held  # S3 parts, one at a time
    assert process_budget().held == 0
    digest = hashlib.sha256(data).digest()
    for index in range(3):
        [file] = service.files_in(f"/Recordings/many/t{index:02d}")
        assert file["size"] == len(data)
        assert hashlib.sha256(service.download_as("alice", file["id"])).digest() == digest
