"""DracoonClientPool: app.conf's upload tuning reaches every DRACOON client it creates."""

import pytest

from recording_storage.config import ConfigError, load_settings
from recording_storage.configurator import InstanceConfig
from recording_storage.dracoon.client import DracoonClient, UploadOptions
from recording_storage.jobs.clients import DracoonClientPool

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
