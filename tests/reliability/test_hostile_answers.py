"""Issue 13 items 5, 6 and 9 over real HTTP: DRACOON (the emulator behind a hostile proxy,
tests/support/hostile_server.py) or the configurator lying in pagination totals, trickling a
body one byte per second, answering 200 with HTML, with JSON of the wrong shape, with deeply
nested JSON or with a huge body.

Every case asserts the final state: the job fails as retryable (never permanent), its error
names the endpoint, the S3 object is kept and no file (let alone a broken one) is in the room,
no upload channel is left open; then, with the server honest again, the same runner (the
worker is not wedged) completes the job with exactly one correct, decryptable file and the
S3 object deleted. The trickling cases end because a deadline tripped: the call deadline or
the job deadline is a few seconds, while the pytest timeout is far longer.
"""

from __future__ import annotations

import os

import pytest

from recording_storage.jobs.runner import JobError
from tests.jobs.conftest import CHUNK, DOMAIN
from tests.service.support import wait_for
from tests.support import hostile_server as h

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

NODES = "^/api/v4/nodes$"


@pytest.fixture
def dracoon(world):
    """The instance's DRACOON is the emulator behind the hostile proxy (chunks included)."""
    with h.HostileServer(world.emulator.base_url, keep_host=True) as proxy:
        world.set_instance(DOMAIN, **{"recordings.dracoon.base-url": proxy.url + "/api/v4"})
        yield proxy
        close_runners(world)  # while the proxy still answers their token revocation


def close_runners(world) -> None:
    for runner in world.runners:
        runner.close()
    world.runners.clear()


@pytest.fixture
def configurator(world):
    """An HTTP configurator that serves the world's instance, until a rule says otherwise."""
    with h.HostileServer() as server:
        keys = dict(world.instances[DOMAIN])
        server.add(h.Rule(f"^/api/instances/{DOMAIN}$", h.json_answer(keys)))
        yield server
        close_runners(world)


def fails_retryable(world, runner, key: str, *, names: str) -> JobError:
    """Run the job once: it must fail as retryable, say ``names``, keep S3, upload nothing."""
    with pytest.raises(JobError) as info:
        runner.run(world.message(key), job_id="hostile-1")
    error = info.value
    assert error.retryable is True, error
    assert names in str(error), error
    assert world.bucket.exists(key)
    assert world.files() == []
    assert world.open_uploads() == []
    return error


def succeeds_after(world, runner, key: str, data: bytes) -> None:
    """The server is honest again: the same runner finishes the job correctly."""
    result = runner.run(world.message(key), job_id="hostile-2")
    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists(key)


def put(world, key: str) -> bytes:
    data = os.urandom(2 * CHUNK + 5)
    world.bucket.put(key, data)
    return data


DRACOON_CASES = [
    pytest.param(h.Rule(NODES, h.rewrite(h.page_total(1_000_000_000))),
                 "GET /v4/nodes", id="listing-total-1e9"),
    pytest.param(h.Rule(NODES, h.rewrite(lambda answer, query: {
        "items": [], "range": {"offset": 0, "limit": 500, "total": 7}})),
                 "empty page at offset 0 while range.total is 7", id="listing-empty-but-total-7"),
    pytest.param(h.Rule(NODES, h.rewrite(lambda answer, query: {
        "items": [{"id": n, "name": f"r{n}", "type": "room"} for n in range(501)],
        "range": {"offset": 0, "limit": 500, "total": 501}})),
                 "501 items answer a request for at most 500", id="listing-more-than-limit"),
    pytest.param(h.Rule(NODES, h.html()), "GET /v4/nodes", id="listing-200-html"),
    pytest.param(h.Rule(NODES, h.json_answer({"items": [{"id": [1], "type": "room"}],
                                             "range": {"total": 1}})),
                 "GET /v4/nodes", id="listing-node-of-wrong-shape"),
    pytest.param(h.Rule(NODES, h.json_answer([1, 2, 3])), "GET /v4/nodes",
                 id="listing-json-list-not-object"),
    pytest.param(h.Rule(NODES, h.deep_json(100_000)), "nested deeper than 32",
                 id="listing-deeply-nested"),
    pytest.param(h.Rule(NODES, h.huge(9 * 1024 * 1024, declare=False)),
                 "more than the cap of 8388608 bytes", id="listing-9-MiB-answer"),
    pytest.param(h.Rule("^/oauth/token$", h.html()), "/oauth/token", id="oauth-token-200-html"),
    pytest.param(h.Rule("^/api/v4/user/account/keypairs$", h.json_answer({"oops": True})),
                 "GET /v4/user/account/keypairs", id="keypairs-wrong-shape"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "names"), DRACOON_CASES)
def test_hostile_dracoon_answer_fails_retryable_and_keeps_s3(world, dracoon, rule, names):
    data = put(world, "rec/hostile.mp4")
    runner = world.runner()
    dracoon.add(rule)
    fails_retryable(world, runner, "rec/hostile.mp4", names=names)
    dracoon.clear()
    succeeds_after(world, runner, "rec/hostile.mp4", data)


def test_listing_trickling_one_byte_per_second_ends_at_the_call_deadline(world, dracoon):
    data = put(world, "rec/trickle.mp4")
    # dracoon.timeoutSeconds (per read) stays 60: only the total deadline can end this.
    runner = world.runner(RS_DRACOON_CALLDEADLINESECONDS="2")
    dracoon.add(h.Rule(NODES, trickle=1.0))
    error = fails_retryable(world, runner, "rec/trickle.mp4", names="GET /v4/nodes")
    assert "total deadline of 2s" in str(error)
    dracoon.clear()
    succeeds_after(world, runner, "rec/trickle.mp4", data)


def test_trickling_chunk_answers_end_at_the_job_deadline(world, dracoon):
    data = put(world, "rec/slow-chunks.mp4")
    runner = world.runner(RS_WORKERS_FILETRANSFERER_JOBDEADLINEBASESECONDS="6")
    dracoon.add(h.Rule(r"^/api/v4/uploads/[^/]+$", method="POST", trickle=1.0))
    error = fails_retryable(world, runner, "rec/slow-chunks.mp4", names="deadline")
    assert "S3 objects kept" in str(error) and "POST /v4/uploads/{token}" in str(error)
    dracoon.clear()
    succeeds_after(world, runner, "rec/slow-chunks.mp4", data)


def test_room_listing_pages_stop_at_the_job_deadline(world, dracoon, caplog):
    """A list that honestly goes on for ever (new pages, a growing total), answered slowly:
    the job deadline stops it between pages."""
    data = put(world, "rec/endless.mp4")
    runner = world.runner(RS_WORKERS_FILETRANSFERER_JOBDEADLINEBASESECONDS="4")

    def endless(answer, query):
        offset = int(query.get("offset", ["0"])[0])
        items = [{"id": 10_000 + offset + n, "name": f"f{offset + n}", "type": "file"}
                 for n in range(500)]  # fmt: skip
        return {"items": items, "range": {"offset": offset, "limit": 500, "total": offset + 501}}

    dracoon.add(h.Rule(NODES, h.rewrite(endless), trickle=None))
    with pytest.raises(JobError) as info:
        runner.run(world.message("rec/endless.mp4"), job_id="endless")
    assert info.value.retryable and "deadline" in str(info.value)
    # The target's own failure (15009) says where it stopped.
    assert any("GET /v4/nodes" in r.getMessage() and "deadline" in r.getMessage()
               for r in caplog.records if getattr(r, "code", None) == 15009)  # fmt: skip
    assert world.bucket.exists("rec/endless.mp4") and world.open_uploads() == []
    assert dracoon.count(NODES) < 1000  # stopped long before the page cap
    dracoon.clear()
    succeeds_after(world, runner, "rec/endless.mp4", data)


CONFIGURATOR_CASES = [
    pytest.param(h.html(), None, "malformed JSON", id="200-html"),
    pytest.param(h.json_answer({"error": "gateway timeout"}), None, "recordings.* key",
                 id="200-without-recordings-keys"),
    pytest.param(h.json_answer(["recordings.storage", "dracoon"]), None, "not an object",
                 id="200-json-list"),
    pytest.param(h.deep_json(100_000), None, "nested deeper than 32", id="deeply-nested"),
    pytest.param(h.huge(9 * 1024 * 1024, declare=True), None, "more than the cap",
                 id="9-MiB-answer"),
    pytest.param(None, 1.0, "within 2s", id="trickling-one-byte-per-second"),
]  # fmt: skip


@pytest.mark.parametrize(("action", "trickle", "names"), CONFIGURATOR_CASES)
def test_hostile_configurator_answer_fails_retryable_and_keeps_s3(
    world, configurator, action, trickle, names
):
    data = put(world, "rec/conf.mp4")
    env = {
        "RS_CONFIGURATOR_URL": configurator.url + "/api",
        "RS_CONFIGURATOR_CALLDEADLINESECONDS": "2",
        "RS_CONFIGURATOR_TIMEOUTSECONDS": "60",
        "RS_CONFIGURATOR_CACHETTLSECONDS": "0",
    }
    runner = world.runner(**env)
    honest = configurator.rules[0]
    path = f"^/api/instances/{DOMAIN}$"
    if action is None:
        configurator.rules.insert(0, h.Rule(path, honest.action, trickle=trickle))
    else:
        configurator.rules.insert(0, h.Rule(path, action))
    error = fails_retryable(world, runner, "rec/conf.mp4", names=names)
    assert f"/api/instances/{DOMAIN}" in str(error)
    configurator.rules.pop(0)
    succeeds_after(world, runner, "rec/conf.mp4", data)


def test_served_worker_is_not_wedged_by_a_trickling_dracoon(deployment):
    """The whole service (``recording-storage serve``, one FileTransferer): a listing that
    trickles one byte per second fails the delivery as retryable at the 2 s call deadline
    (15007 ``reason=retryable``, never dead-lettered); the same worker process then takes
    the redelivery and completes it once DRACOON is honest again."""
    world = deployment.world
    with h.HostileServer(world.emulator.base_url, keep_host=True) as proxy:
        world.set_instance(DOMAIN, **{"recordings.dracoon.base-url": proxy.url + "/api/v4"})
        rule = proxy.add(h.Rule(NODES, trickle=1.0))
        data = os.urandom(CHUNK + 3)
        job = deployment.send("rec/served.mp4", data)
        service = deployment.start(RS_DRACOON_CALLDEADLINESECONDS="2")
        try:
            failed = wait_for(
                lambda: [r for r in deployment.records(job, 15007)
                         if r.get("reason") == "retryable"],
                60, "a retryable failure of the trickled delivery",
            )  # fmt: skip
            assert "GET /v4/nodes" in failed[0]["message"]
            assert "deadline" in failed[0]["message"]
            assert world.bucket.exists("rec/served.mp4") and world.files() == []
            proxy.remove(rule)
            wait_for(lambda: world.files() and not world.bucket.exists("rec/served.mp4"), 90,
                     "the redelivery to complete")  # fmt: skip
            world.assert_one_correct_file(data)
            assert [r for r in deployment.records(job, 15007) if r.get("reason") == "permanent"
                    ] == []  # fmt: skip
            assert service.metric("recording_storage_worker_restarts_total") == 0
        finally:
            deployment.stop()  # while the proxy still answers
