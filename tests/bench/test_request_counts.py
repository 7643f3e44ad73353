"""Requests per job of a warm service, counted over real processes: ``recording-storage
serve`` with its workers, the DRACOON emulator, moto (SQS, behind a counting proxy), the
bench S3 server and an HTTP configurator (scripts/bench/counting.py).

Counts, not time: each assertion fails when a change adds a request to every job (a lost
cache, a lookup too many) or when the counting itself breaks. The floor and why each
request is there: docs/performance.md, "Requests per job".
"""

from __future__ import annotations

import pytest

from scripts.bench import scenarios
from scripts.bench.world import MiB, World

# One xdist worker runs this module's tests (scripts/test.sh: --dist loadgroup):
# one bench world (real processes) for the whole module.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), pytest.mark.xdist_group("request_counts")]

JOBS = 12


@pytest.fixture(scope="module")
def world():
    world = World(4 * MiB, modes=("classic",))
    try:
        yield world
    finally:
        world.close()


def per_job(run: scenarios.SmallRun, service: str) -> dict[str, float]:
    return {
        kind: count / run.jobs
        for s, kind, count in run.requests.rows
        if s == service and not kind.startswith("POST /oauth")
    }


FLOOR = ("POST /nodes/files/uploads", "POST /uploads/***", "PUT /uploads/***",
         "GET /nodes/missingFileKeys", "POST /nodes/files/keys")  # fmt: skip
REMOVE_AFTER = ("s3.removeAfterTransferring = true",)  # the default; the bench keeps objects


def test_a_warm_first_delivery_costs_the_floor(world):
    run = scenarios.many_small(world, JOBS, 256 * 1024, workers=1, extra_conf=REMOVE_AFTER)

    assert run.failed == 0
    dracoon = per_job(run, "DRACOON")
    # The protocol floor of one key into one encrypted room, and nothing else: a first
    # delivery skips the listing of earlier uploads, and DRACOON kept every name, so no
    # listing after the completion either (docs/reliability.md, "Duplicate protection at the
    # floor"); no room lookups, logins or key-pair fetches on a warm worker.
    for kind in FLOOR:
        assert dracoon.pop(kind) == 1.0, kind
    assert dracoon == {}
    # Connections live across jobs: none new for SQS and the configurator, and S3 opens one
    # now and then (~1 per 12 jobs here: a pooled connection urllib3 did not take back).
    s3 = per_job(run, "S3")
    assert s3.pop("(new TCP connections)", 0) <= 0.25
    # HeadObject twice: before DRACOON is touched, and right before the conditional delete
    # (aws/s3.py delete_object: stores that ignore If-Match on DELETE).
    assert s3 == {"HeadObject": 2.0, "GetObject": 1.0, "DeleteObject": 1.0}
    sqs = per_job(run, "SQS")
    assert sqs.pop("DeleteMessage") == 1.0
    # One receive per job plus the odd empty long poll; the long poll that returns the first
    # measured job may have started (and been counted) before the measurement began.
    assert (JOBS - 1) / JOBS <= sqs.pop("ReceiveMessage") <= 2.0
    assert sqs.pop("(new TCP connections)", 0) <= 0.25
    assert sqs == {}  # no visibility changes for jobs shorter than a third of the timeout
    assert per_job(run, "configurator") == {}  # cached for configurator.cacheTtlSeconds


def test_a_redelivered_job_still_lists_before_its_upload(world):
    """The second delivery of a message may find a copy its first delivery left (a crash
    after the completion): it lists before it uploads (jobs.transfer, docs/reliability.md)."""
    run = scenarios.many_small(
        world, JOBS, 256 * 1024, workers=1, extra_conf=REMOVE_AFTER, redelivered=True
    )

    assert run.failed == 0
    dracoon = per_job(run, "DRACOON")
    for kind in FLOOR:
        assert dracoon.pop(kind) == 1.0, kind
    assert dracoon == {"GET /nodes": 1.0}  # before the upload; none after it (name kept)


def test_objects_kept_after_the_transfer_keep_the_listing_before_the_upload(world):
    """Without s3.removeAfterTransferring a copy from a finished earlier message can be
    anywhere in the room's past, so even a first delivery lists before it uploads."""
    run = scenarios.many_small(world, JOBS, 256 * 1024, workers=1)

    assert run.failed == 0
    dracoon = per_job(run, "DRACOON")
    for kind in FLOOR:
        assert dracoon.pop(kind) == 1.0, kind
    assert dracoon == {"GET /nodes": 1.0}  # before the upload; none after it (name kept)
    assert "DeleteObject" not in per_job(run, "S3")


def test_receive_batch_takes_sqs_to_a_fraction_of_a_request_per_job(world):
    run = scenarios.many_small(
        world, JOBS, 256 * 1024, workers=1, extra_conf=("sqs.receiveBatch = 10",)
    )

    assert run.failed == 0
    sqs = per_job(run, "SQS")
    assert "DeleteMessage" not in sqs
    assert sqs.pop("DeleteMessageBatch") <= 0.5  # 12 jobs: a batch of ten, then the rest
    assert sqs.pop("ReceiveMessage") <= 0.75  # + the odd empty long poll
    assert sqs.pop("ChangeMessageVisibilityBatch", 0) <= 0.5
    assert sqs == {}
    assert per_job(run, "DRACOON")["PUT /uploads/***"] == 1.0  # every job uploaded once
