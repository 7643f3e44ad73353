"""Adversarial review of issue 13: the paths most likely to still end in a broken file, a
duplicate, a lost recording or a wrong job outcome, each tried over real HTTP (the DRACOON
emulator behind the tamper proxy, moto behind the S3 fault proxy).

Every test asserts the final state: each file's size and content as another room member
decrypts it, whether the S3 object exists (and which bytes it holds), the job's outcome, and
that no upload channel is left open.
"""

from __future__ import annotations

import io
import json
import os

import pytest
from dracoon_emulator.services import sessions as emulator_sessions
from dracoon_emulator.services import uploads as emulator_uploads

from recording_storage.aws.s3 import head_object
from recording_storage.dracoon.crypto import UserKeyPair, UserKeyPairContainer
from recording_storage.jobs.plan import marker_for
from recording_storage.jobs.runner import JobError
from tests.jobs.conftest import CHUNK, DOMAIN, readme_message
from tests.reliability.conftest import in_thread, make_world, through_tamper_proxy
from tests.security.test_secrets import assert_no_secret, issued_secrets
from tests.security.test_secrets_s3_direct import TokenRecorder
from tests.support.emulator_fixtures import default_seed, encryption_password, login_password
from tests.support.fault_proxy import ProxyRule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

KEY = "rec/adv.mp4"
OBJECT = r"/rec/adv\.mp4(\?|$)"
CHUNK_URL = r"^/api/v4/uploads/[^/?]+$"  # classic chunk POST and completion PUT
S3_COMPLETE = r"^/api/v4/nodes/files/uploads/[^/]+/s3$"
S3_PART = r"^/emulator/s3/[^/?]+/\d+\?"  # the emulator's presigned part URLs
ROOMS = ("a", "b", "c")


@pytest.fixture
def slow_status(emulator_factory, test_key_pairs, moto_server, s3_bucket, tmp_path, proxy, aws_env):
    """S3 direct uploads on a server that keeps answering ``transfer`` for a few status polls
    after it accepted ``PUT .../s3`` (docs/client.md: "some servers keep answering transfer
    for a while"; emulator knob ``s3_transfer_polls``)."""
    seed = default_seed(test_key_pairs, s3_direct=True)
    seed["s3_transfer_polls"] = 3
    world = make_world(emulator_factory(seed), moto_server, s3_bucket, tmp_path, proxy)
    tamper = through_tamper_proxy(world)
    yield world
    for runner in world.runners:  # first: closing logs out of DRACOON through the proxy
        runner.close()
    tamper.stop()


def _body(world, paths=ROOMS) -> str:
    return json.dumps(readme_message(bucket=world.bucket.name, keys=[KEY],
                                     targets=[{"path": p} for p in paths]))  # fmt: skip


def _statuses(world) -> list[str]:
    return sorted(u["status"] for u in world.admin("GET", "/emulator/uploads"))


def _plant(world, path: str, content: bytes, parent: str = "/Recordings") -> int:
    """A file carrying the job's marker in room ``path``, as an earlier delivery leaves it."""
    info = head_object(world.bucket.client, world.bucket.name, KEY)
    with world.client_as("service") as client:
        room = client.resolve_room_path(world.node(parent)["id"], path)
        node = client.upload(room.id, "adv.mp4", io.BytesIO(content), len(content),
                             notes=marker_for(info))  # fmt: skip
        if room.is_encrypted:
            client.distribute_missing_keys(file_id=node.id)
    return node.id


# -- S3 direct: a completion whose answer was lost, on a server that still says "transfer" ----


def test_lost_s3_completion_answer_while_the_status_still_says_transfer(slow_status):
    """DRACOON accepted ``PUT .../s3``; the answer is lost; the status poll still says
    ``transfer`` (the server has not moved on yet). That is not proof that the completion was
    not accepted: sending it again meets a closed channel (400 -20503). The job must still end with
    one correct file and the S3 object deleted -- or, at worst, fail as retryable with the
    object kept -- never fail permanently over a file that DRACOON did create."""
    world = slow_status
    data = os.urandom(300_000)
    world.bucket.put(KEY, data)
    world.tamper.add(ProxyRule("acted_drop", method="PUT", path=S3_COMPLETE, count=1))

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists(KEY)
    assert world.tamper.count("PUT", S3_COMPLETE) == 2  # the second met the closed channel
    assert _statuses(world) == ["done"]


S3_STATUS = r"^/api/v4/nodes/files/uploads/[^/?]+$"


@pytest.mark.parametrize(
    "status_fault",
    [
        pytest.param(dict(action="drop", count=4), id="status-unreadable"),
        pytest.param(dict(action="acted_error", status=200, count=1), id="status-html-200"),
    ],
)
def test_lost_s3_completion_answer_and_a_status_that_cannot_be_read(direct, status_fault):
    """The completion is accepted and its answer lost; then the status poll fails too (no
    answer after the client's retries, or a 200 HTML page). Whatever the job decides, the
    room must end with exactly one correct file, the S3 object deleted only after that, and
    every failed attempt retryable."""
    world = direct
    data = os.urandom(300_000)
    world.bucket.put(KEY, data)
    lost, status = world.tamper.add(
        ProxyRule("acted_drop", method="PUT", path=S3_COMPLETE, count=1),
        ProxyRule(method="GET", path=S3_STATUS, **status_fault),
    )

    result, errors = world.run(world.runner(), world.message(KEY))

    assert lost.fired == 1 and status.fired == status_fault["count"]
    assert all(error.retryable for error in errors), errors
    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists(KEY)


# -- S3: the recording replaced by one of the same size while it is read ----------------------


@pytest.mark.parametrize("skip", [0, 1], ids=["before-first-get", "between-ranges"])
def test_same_size_overwrite_while_reading_never_mixes_versions(world, skip):
    """Another recording of the same size replaces the object after HeadObject (before the
    first ranged GET, or between two ranges) while three rooms are fed from one read. No room
    may keep a file made of two versions; the job fails as retryable, the new object stays;
    the redelivery transfers the new recording."""
    old, new = os.urandom(4 * CHUNK + 3), os.urandom(4 * CHUNK + 3)
    world.bucket.put(KEY, old)
    world.proxy.add(ProxyRule("delay", method="GET", path=OBJECT, skip=skip, count=1,
                              before=lambda: world.bucket.put(KEY, new)))  # fmt: skip
    runner = world.runner()

    with pytest.raises(JobError) as failure:
        runner.run(_body(world), job_id="swap")

    assert failure.value.retryable, failure.value
    assert all(world.files(p) == [] for p in ROOMS)
    assert world.open_uploads() == []
    assert world.bucket.get(KEY) == new

    result = runner.run(_body(world), job_id="swap-again")
    for path in ROOMS:
        world.assert_one_correct_file(new, path=path)
    assert result.s3_deleted and not world.bucket.exists(KEY)


# -- redelivery over mixed earlier results ----------------------------------------------------


def test_redelivery_with_a_good_a_broken_and_no_copy_in_three_rooms(classic):
    """Room a holds a correct copy, room b one a chunk too large (stored twice), room c none.
    The good copy is reused as it is, the broken one replaced, c uploaded; the S3 object is
    deleted only after all three are right."""
    world = classic
    data = os.urandom(3 * CHUNK + 9)
    world.bucket.put(KEY, data)
    good = _plant(world, "a", data)
    broken = _plant(world, "b", data[:CHUNK] + data)

    result, errors = world.run(world.runner(), _body(world))

    assert errors == []
    assert world.assert_one_correct_file(data, path="a")["id"] == good
    assert world.assert_one_correct_file(data, path="b")["id"] != broken
    world.assert_one_correct_file(data, path="c")
    assert sorted((f.target, f.reused) for f in result.files) == [
        ("a", True), ("b", False), ("c", False)
    ]  # fmt: skip
    assert result.s3_deleted and not world.bucket.exists(KEY)


# -- lost answers while other targets stream, expired tokens, slow servers ---------------------


def test_lost_chunk_answers_in_several_targets_of_one_read(classic):
    """Six rooms fed from one S3 read; three chunk answers (in whichever rooms they fall)
    are lost after DRACOON stored the chunk, while the other rooms are mid-stream. Each hit
    room restarts on a new channel; every room ends with exactly the recording."""
    world = classic
    data = os.urandom(5 * CHUNK + 1)
    world.bucket.put(KEY, data)
    paths = [f"r{i}" for i in range(6)]
    world.tamper.add(ProxyRule("acted_drop", method="POST", path=CHUNK_URL, skip=7, count=3))

    result, errors = world.run(world.runner(), _body(world, paths))

    assert all(error.retryable for error in errors), errors
    for path in paths:
        world.assert_one_correct_file(data, path=path)
    assert result.s3_deleted and not world.bucket.exists(KEY)
    assert "transfer" not in _statuses(world)


def test_token_expired_when_the_upload_restarts(classic):
    """A chunk's answer is lost, and the access token expires just before the restart's
    channel creation reaches DRACOON: that POST meets a 401 (a refusal: DRACOON did not
    act), so the client renews the token and sends it again -- exactly one new channel."""
    world = classic
    data = os.urandom(3 * CHUNK + 1)
    world.bucket.put(KEY, data)
    expire = lambda: world.admin("POST", "/emulator/tokens/expire")  # noqa: E731
    lost, refused = world.tamper.add(
        ProxyRule("acted_drop", method="POST", path=CHUNK_URL, skip=1, count=1),
        ProxyRule("delay", method="POST", path=r"^/api/v4/nodes/files/uploads$", skip=1,
                  count=1, before=expire),
    )  # fmt: skip

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == [] and lost.fired == refused.fired == 1
    world.assert_one_correct_file(data)
    assert result.s3_deleted
    assert world.tamper.count("POST", r"^/api/v4/nodes/files/uploads$") == 3  # 1 + 401 + 1
    assert _statuses(world) == ["cancelled", "done"]


def test_a_completion_slower_than_the_read_timeout(classic):
    """The server takes longer than the client's read timeout to even start the classic
    completion (queueing). The client gives up, cancels the channel and uploads again; the
    late completion must not create a second (or a broken) file."""
    world = classic
    data = os.urandom(2 * CHUNK + 5)
    world.bucket.put(KEY, data)
    world.faults({"method": "PUT", "path": CHUNK_URL, "latency_ms": 3000, "count": 1})

    result, errors = world.run(world.runner(RS_DRACOON_TIMEOUTSECONDS="1"), world.message(KEY))

    world.faults()
    assert all(error.retryable for error in errors), errors
    world.assert_one_correct_file(data)
    assert result.s3_deleted


def test_two_runs_at_once_one_of_them_losing_a_chunk_answer(classic):
    """The same message runs twice at the same time (two sessions); one run loses a chunk
    answer after DRACOON stored it and restarts on a new channel while the other completes.
    Two rooms; each ends with exactly one correct file, both runs report the same kept file
    (or the slower one fails as retryable), the S3 object is deleted."""
    world = classic
    data = os.urandom(4 * CHUNK + 3)
    world.bucket.put(KEY, data)
    body = _body(world, ("a", "b"))
    [lost] = world.tamper.add(ProxyRule("acted_drop", method="POST", path=CHUNK_URL, skip=5,
                                        count=1))  # fmt: skip
    runners = [world.runner(), world.runner()]
    threads = [in_thread(lambda r=r, i=i: r.run(body, job_id=f"twin-{i}"))
               for i, r in enumerate(runners)]  # fmt: skip
    for thread, _ in threads:
        thread.join(120)

    results = [outcome[0] for _, outcome in threads]
    assert lost.fired == 1
    failed = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, JobError) and r.retryable for r in failed), failed
    assert len(failed) < 2, failed
    for path in ("a", "b"):
        kept = world.assert_one_correct_file(data, path=path)
        ids = {f.file_id for r in results if not isinstance(r, BaseException)
               for f in r.files if f.target == path}  # fmt: skip
        assert ids == {kept["id"]}
    assert not world.bucket.exists(KEY)


def test_an_empty_recording_whose_completion_answer_is_lost(classic):
    """Zero bytes: no chunk at all, only the completion -- whose answer is lost after DRACOON
    created the file. The job finds the empty file and takes it; one file, S3 deleted."""
    world = classic
    world.bucket.put(KEY, b"")
    world.tamper.add(ProxyRule("acted_drop", method="PUT", path=CHUNK_URL, count=1))

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    assert world.assert_one_correct_file(b"")["size"] == 0
    assert world.tamper.count("PUT", CHUNK_URL) == 1
    assert result.s3_deleted and not world.bucket.exists(KEY)


@pytest.mark.parametrize("action", ["acted_drop", "acted_stall"])
def test_lost_answer_to_the_room_creation(classic, action):
    """The room was created, the answer lost (connection reset / later than the timeout):
    the repeat gets 409 and the job continues in that one room."""
    world = classic
    data = os.urandom(CHUNK + 1)
    world.bucket.put(KEY, data)
    world.tamper.add(ProxyRule(action, method="POST", path=r"^/api/v4/nodes/rooms$", count=1,
                               delay=3.0))  # fmt: skip

    result, errors = world.run(world.runner(RS_DRACOON_TIMEOUTSECONDS="1"), world.message(KEY))

    assert errors == []
    assert [n["path"] for n in world.nodes()].count("/Recordings/rec") == 1
    world.assert_one_correct_file(data)
    assert result.s3_deleted


# -- 200 answers that are not what was asked for, after DRACOON acted -------------------------


@pytest.mark.parametrize(
    ("method", "path", "orphans"),
    [
        ("PUT", CHUNK_URL, 0),
        ("POST", r"^/api/v4/nodes/files/uploads$", 1),
        ("POST", r"^/api/v4/nodes/rooms$", 0),
    ],
    ids=["classic-completion", "channel-creation", "room-creation"],
)
def test_an_html_200_after_dracoon_acted_is_retryable(classic, method, path, orphans):
    """DRACOON carried out the call; a proxy answers 200 with an HTML page. That is no
    proof of anything: the job fails as retryable at worst (never dead-lettered on first
    sight), and the redelivery ends with one correct file -- the completed file reused, not a
    second one -- and the S3 object deleted."""
    world = classic
    data = os.urandom(2 * CHUNK + 5)
    world.bucket.put(KEY, data)
    world.tamper.add(ProxyRule("acted_error", method=method, path=path, status=200, count=1))

    result, errors = world.run(world.runner(), world.message(KEY))

    assert all(error.retryable for error in errors), errors
    files = world.files()
    assert len(files) == 1 and world.download_as("alice", files[0]["id"]) == data
    assert [n["path"] for n in world.nodes()].count("/Recordings/rec") == 1
    assert _statuses(world).count("transfer") == orphans  # a channel nobody can name
    assert result.s3_deleted and not world.bucket.exists(KEY)


# -- secrets ------------------------------------------------------------------------------------


def test_no_secret_in_the_output_of_interrupted_and_failed_transfers(classic, test_key_pairs,
                                                                     monkeypatch):  # fmt: skip
    """``recording-storage transfer`` at DEBUG through the paths this review attacked: a chunk
    answer lost (restart on a new channel), an HTML 200 after the completion (retryable
    failure), chunk answers lost for good (failure). No access, refresh or upload token, no
    password, no file key in its output."""
    world = classic
    tokens = TokenRecorder()
    monkeypatch.setattr(emulator_sessions, "secrets", tokens)
    monkeypatch.setattr(emulator_uploads, "secrets", tokens)
    env = {"RS_LOGGER_LEVEL": "DEBUG"}
    outputs: dict[str, str] = {}
    cases = [
        ("lost chunk answer", ProxyRule("acted_error", method="POST", path=CHUNK_URL, skip=1,
                                        count=1, status=502), 0),
        ("html 200 on the completion", ProxyRule("acted_error", method="PUT", path=CHUNK_URL,
                                                 count=1, status=200), 1),
        ("chunk answers lost for good", ProxyRule("acted_drop", method="POST", path=CHUNK_URL,
                                                  skip=1), 1),
    ]  # fmt: skip
    for index, (label, rule, expected_status) in enumerate(cases):
        key = f"rec/secret-{index}.mp4"
        world.bucket.put(key, os.urandom(3 * CHUNK + 1))
        world.tamper.clear()
        world.tamper.add(rule)
        status, out, err = world.transfer(world.message(key, path=f"s{index}"), env=env)
        outputs[label] = err + json.dumps(out)
        assert (status == 0) == (expected_status == 0), outputs[label][-2000:]

    container, password = test_key_pairs["service"]
    key_pair = UserKeyPair.unlock(UserKeyPairContainer.from_json(container), password)
    issued = issued_secrets(world.emulator, key_pair,
                            world.emulator.app.state.user_by_login("service").id)  # fmt: skip
    assert len(tokens.issued) >= 3 * 3 and issued["file keys"]
    assert "starting it again on a new upload channel" in outputs["lost chunk answer"]
    assert "PUT /v4/uploads/{token}" in outputs["html 200 on the completion"]
    assert "uploaded again from its first byte" in outputs["chunk answers lost for good"]
    secrets = [*tokens.issued, *issued["file keys"], *issued["upload tokens"]]
    assert_no_secret(outputs, [*secrets, login_password("service"), encryption_password("service")])


# -- what size verification cannot see: hash and content checks --------------------------------

DOWNLOADS = r"^/api/v4/nodes/files/\d+/downloads$"


def test_a_same_size_copy_with_other_bytes_is_not_taken_for_the_recording(classic):
    """An earlier copy carries the marker and the right size but other bytes (correctly
    encrypted, so its GCM tag is fine). It is downloaded, decrypted and compared with the S3
    object: not the recording, so it is deleted and the recording uploaded again before the
    S3 object goes."""
    world = classic
    data = os.urandom(2 * CHUNK)
    world.bucket.put(KEY, data)
    planted = _plant(world, "rec", os.urandom(len(data)))

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    assert world.assert_one_correct_file(data)["id"] != planted
    assert [f.reused for f in result.files] == [False]
    assert result.s3_deleted and not world.bucket.exists(KEY)
    assert world.tamper.count("POST", DOWNLOADS) == 1  # the planted copy, read back once


def test_a_correct_copy_in_an_encrypted_room_is_read_back_once_and_reused(classic):
    """The cost of the check on a redelivery: one download of the reused copy (decrypted
    with its own file key, compared with the S3 object), no upload."""
    world = classic
    data = os.urandom(2 * CHUNK + 3)
    world.bucket.put(KEY, data)
    planted = _plant(world, "rec", data)

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    assert world.assert_one_correct_file(data)["id"] == planted
    assert [f.reused for f in result.files] == [True]
    assert world.tamper.count("POST", DOWNLOADS) == 1
    assert world.tamper.count("POST", CHUNK_URL) == 0
    assert result.s3_deleted and not world.bucket.exists(KEY)


@pytest.mark.parametrize("same", [True, False], ids=["correct-copy", "other-bytes"])
def test_copies_in_a_plain_room_are_checked_by_hash_without_a_download(classic, same):
    """Plain room: DRACOON's MD5 of the copy is compared with the MD5 of the S3 object (read
    once, streaming); nothing is downloaded. The correct copy is reused, the other one
    deleted and replaced; the S3 object goes only after that."""
    world = classic
    plain = world.node("/Plain")["id"]
    world.set_instance(DOMAIN, **{"recordings.dracoon.parent-room-id": plain})
    data = os.urandom(2 * CHUNK + 3)
    world.bucket.put(KEY, data)
    planted = _plant(world, "rec", data if same else os.urandom(len(data)), parent="/Plain")

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    files = world.files_in("/Plain/rec")
    assert len(files) == 1 and (files[0]["id"] == planted) is same
    assert world.download_as("alice", files[0]["id"]) == data
    assert [f.reused for f in result.files] == [same]
    assert world.tamper.count("POST", DOWNLOADS) == 0
    assert result.s3_deleted and not world.bucket.exists(KEY)


def _flip_a_byte(body: bytes) -> bytes:
    at = min(100, len(body) - 1)
    return body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]


def test_a_chunk_altered_on_its_way_is_noticed_before_the_recording_is_deleted(classic):
    """A middlebox flips one bit of chunk 2 (same length). DRACOON stores it; the file has
    the right size, but the MD5 DRACOON reports for it is not the MD5 of the ciphertext the
    upload sent: the file is deleted and the recording uploaded again on a new channel. The
    room ends with one file every reader decrypts, and only then is the S3 object deleted."""
    world = classic
    data = os.urandom(3 * CHUNK + 1)
    world.bucket.put(KEY, data)
    world.tamper.add(ProxyRule("delay", method="POST", path=CHUNK_URL, skip=1, count=1,
                               alter=_flip_a_byte))  # fmt: skip

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists(KEY)
    assert world.tamper.count("POST", CHUNK_URL) == 4 + 4  # the broken upload, the new one
    assert world.emulator.app.state.recycle_bin  # the broken file went to the recycle bin


def test_an_s3_part_altered_on_its_way_is_noticed(direct):
    """S3 direct: a part is altered between us and the storage (same length). S3 takes it
    (its ETag is over what it got), DRACOON assembles the file and reports its MD5, which is
    not the MD5 of what the upload sent: deleted, uploaded again, one correct file."""
    world = direct
    data = os.urandom(300_000)
    world.bucket.put(KEY, data)
    world.tamper.add(ProxyRule("delay", method="PUT", path=S3_PART, count=1,
                               alter=_flip_a_byte))  # fmt: skip

    result, errors = world.run(world.runner(), world.message(KEY))

    assert errors == []
    world.assert_one_correct_file(data)
    assert result.s3_deleted and not world.bucket.exists(KEY)
    assert world.tamper.count("PUT", S3_PART) == 2


def test_chunks_altered_on_every_attempt_fail_the_job_and_keep_the_recording(classic):
    """Every upload meets the middlebox: each run stores a broken file, notices it by the
    hash, deletes it and gives up after its restart. No run exits 0, no broken file stays
    in the room, and the S3 object is never deleted."""
    world = classic
    data = os.urandom(2 * CHUNK + 5)
    world.bucket.put(KEY, data)
    world.tamper.add(ProxyRule("delay", method="POST", path=CHUNK_URL, count=1000,
                               alter=_flip_a_byte))  # fmt: skip

    with pytest.raises(JobError) as failed:
        world.runner().run(world.message(KEY), job_id="job-1")

    assert failed.value.retryable
    assert "not what was sent" in str(failed.value)
    assert world.files() == []
    assert world.open_uploads() == []
    assert world.bucket.exists(KEY)
