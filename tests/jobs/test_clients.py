"""DracoonClientPool: app.conf's upload tuning reaches every DRACOON client it creates; a
client whose credentials changed or that sat idle is evicted and closed exactly once, never
while a job still holds it, and a closed client keeps no private key in memory."""

import dataclasses
import json
import os
import threading

import pytest

from recording_storage.config import ConfigError, load_settings
from recording_storage.configurator import InstanceConfig
from recording_storage.dracoon.client import DracoonClient, UploadOptions
from recording_storage.jobs.clients import IDLE_SECONDS, DracoonClientPool
from recording_storage.jobs.runner import JobRunner
from tests.jobs.conftest import readme_message
from tests.support.emulator_fixtures import login_password

INSTANCE = InstanceConfig.from_mapping(
    "a.example.com",
    {
        "recordings.storage": "dracoon",
        "recordings.dracoon.parent-room-id": "12",
        "recordings.dracoon.login": "svc",
        "recordings.dracoon.password": "pw",
        "recordings.dracoon.base-url": "http://127.0.0.1:9/api/v4",  # never contacted
    },
)


def test_upload_tuning_defaults_are_the_clients_own_defaults():
    dracoon = load_settings(None, env={}).dracoon
    defaults = UploadOptions()
    assert dracoon.upload_parallel_parts == defaults.s3_parallel_parts == 2
    assert dracoon.upload_read_ahead is defaults.read_ahead is True


def test_upload_tuning_from_app_conf_reaches_the_client(tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("dracoon.uploadParallelParts = 5\ndracoon.uploadReadAhead = off\n")
    pool = DracoonClientPool(load_settings(conf, env={}))
    try:
        client = pool.client_for(INSTANCE)
        assert isinstance(client, DracoonClient)
        options = client._uploader.options  # what every upload of this client runs with
        assert options.s3_parallel_parts == 5
        assert options.read_ahead is False
        assert options.s3_completion_timeout == UploadOptions().s3_completion_timeout
    finally:
        pool.close()


def test_upload_tuning_from_the_environment_reaches_the_factory():
    made = []

    def factory(*args, **kwargs):
        made.append(kwargs)
        return object()

    settings = load_settings(None, env={"RS_DRACOON_UPLOADPARALLELPARTS": "8"})
    DracoonClientPool(settings, factory=factory).client_for(INSTANCE)
    assert made[0]["upload_options"] == UploadOptions(s3_parallel_parts=8, read_ahead=True)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("dracoon.uploadParallelParts = 0", "must be at least 1, got 0"),
        ("dracoon.uploadParallelParts = 9", "must be at most 8, got 9"),
        (
            "dracoon.uploadParallelParts = two",
            "must be a whole number written with the digits 0-9 only, got 'two'",
        ),
        ("dracoon.uploadReadAhead = sometimes", "must be true or false, got 'sometimes'"),
    ],
)
def test_bad_upload_tuning_is_one_clear_config_error(tmp_path, line, expected):
    conf = tmp_path / "app.conf"
    conf.write_text(line + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(conf, env={})
    key = line.split(" = ")[0]
    assert info.value.problems == [f"{key} ({conf}:1): {expected}"]


# -- eviction (fake factory, fake clock) -----------------------------------------------------


class FakeClient:
    def __init__(self, base_url, login, password, **kwargs):
        self.login, self.password = login, password
        self.closes = 0

    def close(self):
        self.closes += 1


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def fake_pool(clock=None, idle_seconds=IDLE_SECONDS):
    made: list[FakeClient] = []

    def factory(*args, **kwargs):
        made.append(FakeClient(*args, **kwargs))
        return made[-1]

    pool = DracoonClientPool(
        load_settings(None, env={}), factory=factory, clock=clock or Clock(),
        idle_seconds=idle_seconds,
    )  # fmt: skip
    return pool, made


def with_password(instance, password):
    return dataclasses.replace(instance, password=password)


def test_a_password_change_closes_the_old_client_once_after_its_user_releases_it():
    pool, made = fake_pool()
    with pool.lease(INSTANCE) as old:
        with pool.lease(with_password(INSTANCE, "new")) as new:
            assert new is not old and new.password == "new"
            assert old.closes == 0  # still held by the first job: never closed under it
        assert old.closes == 0
    assert old.closes == 1  # closed by the release of its last lease
    with pool.lease(with_password(INSTANCE, "new")) as again:
        assert again is new  # the new one is the pooled one now
    pool.close()
    assert old.closes == 1 and new.closes == 1
    assert len(made) == 2


def test_a_password_change_closes_an_idle_old_client_at_once():
    pool, _ = fake_pool()
    old = pool.client_for(INSTANCE)
    new = pool.client_for(with_password(INSTANCE, "new"))
    assert old.closes == 1 and new.closes == 0
    pool.close()


def test_the_same_credentials_share_one_client():
    pool, made = fake_pool()
    with pool.lease(INSTANCE) as a, pool.lease(INSTANCE) as b:
        assert a is b
    assert len(made) == 1 and made[0].closes == 0
    pool.close()


def test_a_client_idle_for_too_long_is_closed_on_the_next_pool_access():
    clock = Clock()
    pool, _ = fake_pool(clock, idle_seconds=600)
    first = pool.client_for(INSTANCE)
    clock.now += 599
    assert pool.client_for(INSTANCE) is first  # not idle long enough (and used again now)
    clock.now += 600
    second = pool.client_for(INSTANCE)
    assert second is not first
    assert first.closes == 1 and second.closes == 0
    pool.close()


def test_an_idle_client_of_another_account_is_closed_on_any_pool_access():
    clock = Clock()
    pool, _ = fake_pool(clock, idle_seconds=600)
    other = dataclasses.replace(INSTANCE, login="other")
    idle = pool.client_for(other)
    clock.now += 601
    pool.client_for(INSTANCE)
    assert idle.closes == 1
    pool.close()


def test_a_client_in_use_is_never_closed_however_long_the_job_runs():
    clock = Clock()
    pool, _ = fake_pool(clock, idle_seconds=600)
    with pool.lease(INSTANCE) as busy:
        clock.now += 10 * 600  # a long upload
        assert pool.client_for(INSTANCE) is busy  # other accesses do not evict it
        assert busy.closes == 0
    clock.now += 599  # idle time counts from the release
    assert pool.client_for(INSTANCE) is busy and busy.closes == 0
    pool.close()


def test_an_evicted_client_held_by_several_threads_is_closed_once_by_the_last():
    pool, _ = fake_pool()
    entered, leave = threading.Barrier(4), threading.Event()
    seen = []

    def job():
        with pool.lease(INSTANCE) as client:
            seen.append(client)
            entered.wait(timeout=10)
            leave.wait(timeout=10)

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    entered.wait(timeout=10)
    new = pool.client_for(with_password(INSTANCE, "new"))
    old = seen[0]
    assert all(c is old for c in seen) and new is not old and old.closes == 0
    leave.set()
    for thread in threads:
        thread.join(timeout=10)
    assert old.closes == 1
    pool.close()


def test_a_client_whose_close_fails_is_still_evicted():
    pool, made = fake_pool()

    def broken():
        raise OSError("connection reset")

    old = pool.client_for(INSTANCE)
    old.close = broken
    assert pool.client_for(with_password(INSTANCE, "new")) is made[1]
    pool.close()


# -- over the emulator -----------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_a_changed_password_makes_the_next_job_log_in_anew_and_drops_the_old_key(
    service, s3_bucket, aws_env
):
    runner = JobRunner(service.settings())
    domain = "24slocal.new.com"
    try:
        first, second = os.urandom(70_000), os.urandom(80_000)
        s3_bucket.put("p/first.mp4", first)
        runner.run(job(s3_bucket, "p/first.mp4"), job_id="first")
        old = runner._pool.client_for(runner.configurator.get_instance(domain))
        assert old._keys.unlocked_versions  # the job unlocked the private key
        assert old._session._access_token is not None

        # An administrator changes the account's password in DRACOON and the configurator.
        with service.emulator.app.state.lock:
            service.emulator.app.state.user_by_login("service").password = "changed-pw-1"
        service.set_instance(**{"recordings.dracoon.password": "changed-pw-1"})
        s3_bucket.put("p/second.mp4", second)
        result = runner.run(job(s3_bucket, "p/second.mp4"), job_id="second")

        assert [f.name for f in result.files] == ["second.mp4"]
        new = runner._pool.client_for(runner.configurator.get_instance(domain))
        assert new is not old and new._keys.unlocked_versions
        assert old._keys.unlocked_versions == []  # the old private key is gone
        assert old._keys._containers is None and old._keys._password is None
        assert len(old._recent_keys) == 0
        assert old._session._access_token is None and old._session._refresh_token is None
        stored = [n for n in service.nodes() if n["type"] == "file" and n["name"] == "second.mp4"]
        assert len(stored) == 1 and stored[0]["size"] == len(second)
        assert service.download_as("alice", stored[0]["id"]) == second  # a room reader decrypts
        assert not s3_bucket.exists("p/second.mp4")
    finally:
        runner.close()
        with service.emulator.app.state.lock:
            service.emulator.app.state.user_by_login("service").password = login_password("service")


def job(bucket, key: str) -> str:
    return json.dumps(readme_message(bucket=bucket.name, keys=[key]))
