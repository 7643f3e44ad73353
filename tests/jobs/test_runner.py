"""JobRunner and GlobalSharer orchestration with fake DRACOON clients and configurators
(real S3 on the moto server); the real client and emulator are in test_end_to_end.py."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from recording_storage.config import load_settings
from recording_storage.configurator import (
    ConfiguratorUnavailableError,
    InstanceConfig,
    UnknownInstanceError,
)
from recording_storage.dracoon.client import KeyDistributionReport
from recording_storage.jobs.plan import marker_for, parse_marker
from recording_storage.jobs.runner import InvalidMessageError, JobError, JobRunner
from recording_storage.jobs.sharer import GlobalSharer
from tests.jobs.conftest import readme_message

KEYS = {
    "recordings.storage": "dracoon",
    "recordings.dracoon.parent-room-id": 1,
    "recordings.dracoon.login": "svc",
    "recordings.dracoon.password": "pw",
    "recordings.dracoon.encryption-password": "enc",
}


class FakeConfigurator:
    def __init__(self, instances: dict[str, dict], error: Exception | None = None):
        self.instances = instances
        self.error = error

    def get_instance(self, domain):
        if self.error:
            raise self.error
        if domain not in self.instances:
            raise UnknownInstanceError(domain, "fake")
        return InstanceConfig.from_mapping(domain, self.instances[domain])

    def list_dracoon_instances(self):
        return [InstanceConfig.from_mapping(d, k) for d, k in self.instances.items()]

    def describe(self):
        return "fake"


class FakeClient:
    """Rooms by path, files with notes; uploads read the whole source."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.rooms: dict[tuple[str, ...], int] = {}
        self.files: dict[int, list] = {}
        self.uploads = 0
        self.shared = 0
        self.fail_share = False

    def resolve_room_path(self, parent, path, create=True):
        room_id = self.rooms.setdefault(tuple(path), 100 + len(self.rooms))
        return SimpleNamespace(id=room_id, is_encrypted=True)

    def list_children(self, room_id, node_type=None, name_contains=None):
        files = self.files.get(room_id, [])
        return [f for f in files if name_contains is None or name_contains in f.name]

    def upload(self, room_id, name, source, size, **kw):
        data = source.read()
        assert len(data) == size
        self.uploads += 1
        node = SimpleNamespace(id=1000 + self.uploads, name=name, notes=kw["notes"], size=size,
                               expire_at=kw["expire_at"])  # fmt: skip
        self.files.setdefault(room_id, []).append(node)
        return node

    def distribute_missing_keys(self, **kw):
        if self.fail_share:
            from recording_storage.dracoon.client import DracoonError

            raise DracoonError("sharing broke")
        self.shared += 1
        return KeyDistributionReport(keys_set=2)

    def close(self):
        pass


@pytest.fixture
def settings(aws_env):
    return load_settings(None, env={**aws_env, "RS_DRACOON_LOGIN": "app-account",
                                    "RS_DRACOON_PASSWORD": "app-pw",
                                    "RS_DRACOON_TEST_LOGIN": "test-account"})  # fmt: skip


def make_runner(settings, instances, clients=None, **kwargs):
    clients = [] if clients is None else clients

    def factory(*args, **kw):
        clients.append(FakeClient(*args, **kw))
        return clients[-1]

    return JobRunner(settings, configurator=FakeConfigurator(instances, **kwargs),
                     client_factory=factory), clients  # fmt: skip


def body(bucket, keys=("k/v.mp4",), targets=(("room",),)):
    return json.dumps(readme_message(bucket=bucket, keys=list(keys),
                                     targets=[{"path": "/".join(t)} for t in targets]))  # fmt: skip


def test_instance_without_account_never_falls_back_to_app_accounts(settings, s3_bucket):
    s3_bucket.put("k/v.mp4", b"x")
    keys = {k: v for k, v in KEYS.items() if "login" not in k and "password" not in k}
    runner, clients = make_runner(settings, {"24slocal.new.com": keys})
    with pytest.raises(JobError, match=r"recordings\.dracoon\.login is missing") as info:
        runner.run(body(s3_bucket.name), job_id="j1")
    assert info.value.retryable is False
    assert clients == []  # no DRACOON client at all, least of all for app-account
    assert s3_bucket.exists("k/v.mp4")


def test_one_client_per_account_reused_across_jobs(settings, s3_bucket):
    runner, clients = make_runner(settings, {"24slocal.new.com": KEYS})
    for n in range(3):
        s3_bucket.put(f"k/{n}.mp4", b"x" * n)
        runner.run(body(s3_bucket.name, keys=[f"k/{n}.mp4"]), job_id=f"j{n}")
    assert len(clients) == 1
    assert clients[0].args[1:] == ("svc", "pw")
    assert clients[0].kwargs["encryption_password"] == "enc"
    assert clients[0].uploads == 3


def test_unknown_instance_and_outage(settings, s3_bucket):
    runner, _ = make_runner(settings, {})
    with pytest.raises(JobError) as info:
        runner.run(body(s3_bucket.name), job_id="j")
    assert info.value.retryable is False
    runner, _ = make_runner(settings, {}, error=ConfiguratorUnavailableError("down"))
    with pytest.raises(JobError, match="down") as info:
        runner.run(body(s3_bucket.name), job_id="j")
    assert info.value.retryable is True


def test_no_matching_target_transfers_nothing_and_keeps_s3(settings, s3_bucket, caplog):
    s3_bucket.put("k/v.mp4", b"x")
    rules = [{"meetingTypeId": 99, "copyTo": [{"path": "x"}]}]
    runner, _ = make_runner(settings, {"24slocal.new.com": KEYS | {
        "recordings.dracoon.targets": json.dumps(rules)}})  # fmt: skip
    message = readme_message(bucket=s3_bucket.name, keys=["k/v.mp4"], targets=None)
    with caplog.at_level(logging.INFO):
        result = runner.run(json.dumps(message), job_id="j")
    assert result.files == [] and result.s3_deleted is False
    assert s3_bucket.exists("k/v.mp4")
    assert any("no target matches" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("targets", "named"),
    [
        ("{broken", "not valid JSON"),
        (json.dumps([{"meetingTypeId": "*any*", "copyTo": [{"path": "$nope"}]}]), "nope"),
    ],
)
def test_bad_instance_targets_are_permanent_config_errors(settings, s3_bucket, caplog, targets,
                                                          named):  # fmt: skip
    s3_bucket.put("k/v.mp4", b"x")
    runner, _ = make_runner(settings, {"24slocal.new.com": KEYS | {
        "recordings.dracoon.targets": targets}})  # fmt: skip
    message = readme_message(bucket=s3_bucket.name, keys=["k/v.mp4"], targets=None)
    with pytest.raises(JobError, match=named) as info:
        runner.run(json.dumps(message), job_id="j")
    assert info.value.retryable is False
    assert any(getattr(r, "code", None) == 15018 for r in caplog.records)


def test_bucket_allow_list(aws_env, s3_bucket, caplog):
    settings = load_settings(None, env={**aws_env, "RS_S3_ALLOWEDBUCKETS": "only-this"})
    runner, _ = make_runner(settings, {"24slocal.new.com": KEYS})
    with caplog.at_level(logging.INFO), pytest.raises(InvalidMessageError) as info:
        runner.run(body(s3_bucket.name), job_id="j")
    assert info.value.field == 'storage.extra["aws.s3"].bucket'
    # The message was parsed, so its instance is known: the 15007 line and the worker's
    # failure log (from exc.instance) both name it.
    assert info.value.instance == "24slocal.new.com"
    [refused] = [r for r in caplog.records if getattr(r, "code", None) == 15007]
    assert (refused.job, refused.field) == ("j", 'storage.extra["aws.s3"].bucket')
    assert refused.instance == "24slocal.new.com"


def test_unparsable_message_logs_15007_without_an_instance(settings, caplog):
    runner, _ = make_runner(settings, {"24slocal.new.com": KEYS})
    with caplog.at_level(logging.INFO), pytest.raises(InvalidMessageError) as info:
        runner.run(b"{not json", job_id="j")
    assert getattr(info.value, "instance", None) is None
    [refused] = [r for r in caplog.records if getattr(r, "code", None) == 15007]
    assert not hasattr(refused, "instance")


def test_progress_and_key_sharing_failure_does_not_fail_the_job(settings, s3_bucket):
    s3_bucket.put("k/v.mp4", b"x" * 1000)
    runner, clients = make_runner(settings, {"24slocal.new.com": KEYS})
    runner.run(body(s3_bucket.name, keys=["k/v.mp4"]), job_id="warm")  # creates the client
    s3_bucket.put("k/w.mp4", b"y" * 500)
    clients[0].fail_share = True
    seen = []
    result = runner.run(
        body(s3_bucket.name, keys=["k/w.mp4"], targets=[("a",), ("b",)]),
        job_id="j",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result.s3_deleted and len(result.files) == 2  # fmt: skip
    assert seen[-1] == (1000, 1000)


def test_marker_round_trip():
    from recording_storage.aws.s3 import ObjectInfo

    info = ObjectInfo("b", "a/v.mp4", 12, '"abc-2"')
    marker = parse_marker("user text " + marker_for(info))
    assert marker.size == 12 and marker.etag == '"abc-2"'
    assert parse_marker("recording-storage:v1 nothing") is None
    assert len(marker_for(ObjectInfo("b" * 63, "k" * 1024, 10**12, "e" * 200))) <= 255


def test_sharer_serves_each_account_once_and_survives_failures(settings):
    clients: list[FakeClient] = []

    def factory(*args, **kw):
        clients.append(FakeClient(*args, **kw))
        clients[-1].fail_share = args[1] == "broken"
        return clients[-1]

    instances = {
        "a.example.com": KEYS,
        "b.example.com": KEYS,  # same account as a: one pass
        "c.example.com": KEYS | {"recordings.dracoon.login": "broken"},
        "d.example.com": KEYS | {"recordings.dracoon.login": "other"},
        "e.example.com": {"recordings.storage": "dracoon"},  # incomplete
    }
    sharer = GlobalSharer(settings, configurator=FakeConfigurator(instances),
                          client_factory=factory)  # fmt: skip
    report = sharer.run_once()
    assert report.instances == 3
    assert report.keys_set == 4
    assert len(report.failures) == 2
    assert sorted(c.args[1] for c in clients) == ["broken", "other", "svc"]
    report = sharer.run_once()
    assert len(clients) == 3  # clients reused across passes


def test_cancelled_job_is_retryable_and_keeps_s3(settings, s3_bucket):
    import threading

    s3_bucket.put("k/v.mp4", b"x" * 10)
    runner, clients = make_runner(settings, {"24slocal.new.com": KEYS})
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(JobError, match="cancelled") as info:
        runner.run(body(s3_bucket.name), job_id="j", cancel=cancel)
    assert info.value.retryable is True
    assert s3_bucket.exists("k/v.mp4")
    assert clients[0].uploads == 0


class RefusingClient(FakeClient):
    def upload(self, *args, **kwargs):
        from recording_storage.dracoon.client import DracoonAuthError

        raise DracoonAuthError("POST", "/oauth/token", 400, server_message="Bad credentials")


def test_failed_target_error_names_instance_file_room_and_what_to_do(settings, s3_bucket, caplog):
    s3_bucket.put("k/v.mp4", b"x" * 10)
    instances = {"24slocal.new.com": KEYS | {"recordings.dracoon.password": "s3cret-pw"}}
    runner = JobRunner(settings, configurator=FakeConfigurator(instances),
                       client_factory=RefusingClient)  # fmt: skip
    with caplog.at_level(logging.INFO), pytest.raises(JobError) as info:
        runner.run(body(s3_bucket.name, targets=[("Room A",)]), job_id="j-auth")
    text = str(info.value)
    assert info.value.retryable is False and info.value.instance == "24slocal.new.com"
    for part in ("j-auth", "instance 24slocal.new.com", f"s3://{s3_bucket.name}/k/v.mp4",
                 "room 'Room A'", "Bad credentials", "needs a configuration or permission fix",
                 "recordings.dracoon"):  # fmt: skip
        assert part in text, (part, text)
    [record] = [r for r in caplog.records if getattr(r, "code", None) == 15009]
    assert (record.job, record.instance, record.file, record.room) == (
        "j-auth", "24slocal.new.com", "k/v.mp4", "Room A")  # fmt: skip
    assert "instance 24slocal.new.com" in record.getMessage()
    assert "s3cret-pw" not in text and "s3cret-pw" not in caplog.text
    assert s3_bucket.exists("k/v.mp4")


class SlowClient(FakeClient):
    """Uploads that take ``seconds`` (reporting progress first) unless the job stops them."""

    seconds = 1.0

    def upload(self, room_id, name, source, size, **kw):
        import time

        from recording_storage.dracoon.client import UploadCancelledError

        kw["progress"](0)  # the transfer reports its total from here on
        end = time.monotonic() + self.seconds
        while time.monotonic() < end:
            if kw["cancel"].is_set():
                raise UploadCancelledError(f"upload of {name!r} cancelled")
            time.sleep(0.02)
        return super().upload(room_id, name, source, size, **kw)


def with_deadline(settings, base: float, rate: int):
    import dataclasses

    workers = settings.workers
    transferer = dataclasses.replace(
        workers.file_transferer, job_deadline_base_seconds=base, job_min_bytes_per_second=rate
    )
    return dataclasses.replace(
        settings, workers=dataclasses.replace(workers, file_transferer=transferer)
    )


@pytest.mark.timeout(60)
def test_job_past_its_deadline_fails_retryable_and_keeps_s3(settings, s3_bucket, caplog):
    s3_bucket.put("k/v.mp4", b"x" * 10)
    SlowClient.seconds = 30.0  # far longer than the deadline: only the deadline ends it
    runner = JobRunner(with_deadline(settings, 0.5, 1024**3),
                       configurator=FakeConfigurator({"24slocal.new.com": KEYS}),
                       client_factory=SlowClient)  # fmt: skip
    with caplog.at_level(logging.INFO), pytest.raises(JobError) as info:
        runner.run(body(s3_bucket.name), job_id="j-late")
    text = str(info.value)
    assert info.value.retryable is True and info.value.instance == "24slocal.new.com"
    assert "j-late" in text and "deadline" in text and "S3 objects kept" in text
    assert "jobDeadlineBaseSeconds" in text
    assert s3_bucket.exists("k/v.mp4")
    assert any(getattr(r, "code", None) == 15007 and "deadline" in r.getMessage()
               for r in caplog.records)  # fmt: skip


class BudgetProbe(FakeClient):
    """Records the job's allowed seconds once the transfer has reported its total."""

    seen: list = []

    def upload(self, room_id, name, source, size, **kw):
        kw["progress"](0)
        self.seen.append(kw["cancel"].seconds)  # the job's cancel event is its budget
        return super().upload(room_id, name, source, size, **kw)


def test_job_deadline_grows_with_the_bytes_to_move(settings, s3_bucket):
    s3_bucket.put("k/v.mp4", b"x" * 3000)
    BudgetProbe.seen = []
    runner = JobRunner(with_deadline(settings, 60, 100),  # 3000 bytes at 100 B/s: +30 s
                       configurator=FakeConfigurator({"24slocal.new.com": KEYS}),
                       client_factory=BudgetProbe)  # fmt: skip
    result = runner.run(body(s3_bucket.name), job_id="j-big")
    assert len(result.files) == 1 and result.s3_deleted
    assert BudgetProbe.seen == [60 + 3000 / 100]


def test_shutdown_cancel_stays_a_cancel_not_a_deadline(settings, s3_bucket):
    import threading

    s3_bucket.put("k/v.mp4", b"x" * 10)
    cancel = threading.Event()
    cancel.set()
    runner = JobRunner(with_deadline(settings, 0.0, 1024),
                       configurator=FakeConfigurator({"24slocal.new.com": KEYS}),
                       client_factory=SlowClient)  # fmt: skip
    with pytest.raises(JobError, match="cancelled") as info:
        runner.run(body(s3_bucket.name), job_id="j", cancel=cancel)
    assert "deadline" not in str(info.value) and s3_bucket.exists("k/v.mp4")
