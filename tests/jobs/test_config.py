import contextlib
import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recording_storage.config import KEYS, REDACTED, ConfigError, env_var_for, kinds, load_settings
from recording_storage.config.appconf import AppConfSyntaxError, parse_app_conf
from recording_storage.config.topics import TopicsError, parse_topics
from tests.support.paths import PROJECT_ROOT

CONF = PROJECT_ROOT / "conf"


def write(tmp_path, text, topics=None):
    conf = tmp_path / "conf" / "app.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)
    if topics is not None:
        path = conf.parent / "pubsub" / "sqs" / "topics.yml"
        path.parent.mkdir(parents=True)
        path.write_text(topics)
    return conf


def test_shipped_default_and_test_configurations_are_valid(tmp_path):
    for name in ("app.conf.default", "app.conf.test"):
        settings = load_settings(CONF / name, topics_path=CONF / "pubsub/sqs/topics.yml.dev",
                                 env={})  # fmt: skip
        assert settings.queue_url.startswith("http")
        assert settings.s3.chunk_size == 20 * 1024 * 1024 or name.endswith(".test")


def test_readme_test_layout_finds_topics_beside_app_conf(tmp_path):
    conf = write(tmp_path, (CONF / "app.conf.test").read_text(),
                 (CONF / "pubsub/sqs/topics.yml.test").read_text())  # fmt: skip
    settings = load_settings(conf, env={})
    assert settings.topics_path == conf.parent / "pubsub" / "sqs" / "topics.yml"
    assert settings.queue_url == settings.topics[settings.workers.file_transferer.queue]


def test_defaults_and_original_keys(tmp_path):
    conf = write(
        tmp_path,
        """
# comment
; also a comment
workers.FileTransferer.count = 3
workers.FileTransferer.queue = transfers
workers.DracoonGlobalSharer.jobDelayMinutes = 5
s3.chunkSize = 1048576
s3.removeAfterTransferring = false
dracoon.baseUrl = https://dracoon.example/api/v4
dracoon.password = "s3cret with spaces "
aws.endpointUrl = http://127.0.0.1:5000
sqs.endpointUrl = http://127.0.0.1:6000
http.address = :9090
""",
        "transfers: https://sqs.eu-central-1.amazonaws.com/1/transfers\n",
    )
    s = load_settings(conf, env={})
    assert s.workers.file_transferer.count == 3
    assert s.workers.global_sharer.job_delay_minutes == 5
    assert s.s3.chunk_size == 1048576 and s.s3.remove_after_transferring is False
    assert s.dracoon.base_url == "https://dracoon.example/api/v4"
    assert s.dracoon.account.password == "s3cret with spaces "
    assert s.aws.s3_endpoint_url == "http://127.0.0.1:5000"
    assert s.aws.sqs_endpoint_url == "http://127.0.0.1:6000"
    assert s.http.address == "0.0.0.0:9090" and s.http.port == 9090
    assert s.queue_url == "https://sqs.eu-central-1.amazonaws.com/1/transfers"
    assert s.configurator.file_path == (conf.parent / "instances.yaml").resolve()
    assert "s3cret" not in repr(s)
    assert s.redacted()["dracoon.password"] == REDACTED


def test_environment_overrides_file(tmp_path):
    conf = write(tmp_path, "s3.chunkSize = 1048576\n")
    s = load_settings(conf, env={"RS_S3_CHUNKSIZE": "2MiB", "RS_AWS_REGION": "us-east-1",
                                 "RS_CONFIGURATOR_URL": "https://conf.example/api/"})  # fmt: skip
    assert s.s3.chunk_size == 2 * 1024 * 1024
    assert s.aws.region == "us-east-1"
    assert s.configurator.url == "https://conf.example/api"
    assert s.origins["s3.chunkSize"] == "environment RS_S3_CHUNKSIZE"


def test_every_key_has_a_distinct_env_var():
    names = [env_var_for(spec.key) for spec in KEYS]
    assert len(names) == len(set(names))
    assert env_var_for("s3.chunkSize") == "RS_S3_CHUNKSIZE"
    assert env_var_for("workers.FileTransferer.count") == "RS_WORKERS_FILETRANSFERER_COUNT"


def test_one_message_per_bad_key(tmp_path):
    conf = write(
        tmp_path,
        """
workers.FileTransferer.count = many
workers.DracoonGlobalSharer.count = 2
workers.DracoonGlobalSharer.jobDelayMinutes = 0
s3.chunkSize = 10
s3.removeAfterTransferring = maybe
dracoon.baseUrl = ftp://x
dracoon.password = hunter2
http.address = nowhere
logger.level = loud
""",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(conf, env={"RS_DRACOON_PARENTROOMID": "abc", "RS_AWS_REGION": "mars"})
    problems = info.value.problems
    for key in ("workers.FileTransferer.count", "workers.DracoonGlobalSharer.count",
                "workers.DracoonGlobalSharer.jobDelayMinutes", "s3.chunkSize",
                "s3.removeAfterTransferring", "dracoon.baseUrl", "http.address",
                "logger.level", "dracoon.parentRoomId", "aws.region"):  # fmt: skip
        assert sum(p.startswith(key + " ") for p in problems) == 1, (key, problems)
    assert len(problems) == 10
    assert "hunter2" not in str(info.value)


def test_secret_values_never_echoed_in_errors(tmp_path):
    conf = write(tmp_path, "dracoon.parentRoomId = 1\n")
    with pytest.raises(ConfigError):
        load_settings(conf, env={"RS_CONFIGURATOR_TIMEOUTSECONDS": "secret-ish"})


def test_unknown_keys_warn_and_syntax_errors_fail(tmp_path):
    s = load_settings(write(tmp_path, "appname = recordings\n"), env={"RS_NOPE": "1"})
    assert any("appname" in w for w in s.warnings)
    assert any("RS_NOPE" in w for w in s.warnings)
    with pytest.raises(ConfigError, match=r"app.conf:2: expected 'key = value'"):
        load_settings(write(tmp_path, "a = 1\njust words\n[dev]\n"), env={})


def test_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.conf", env={})
    s = load_settings(write(tmp_path, ""), env={})
    assert s.queue_url is None
    with pytest.raises(ConfigError, match=r"workers\.FileTransferer\.queue"):
        s.require_queue_url()
    with pytest.raises(ConfigError, match="topics file not found"):
        load_settings(write(tmp_path, ""), topics_path=tmp_path / "none.yml", env={})


def test_queue_key_must_be_in_topics(tmp_path):
    conf = write(tmp_path, "workers.FileTransferer.queue = other\n",
                 "recordings: https://sqs.x/1/q\n")  # fmt: skip
    with pytest.raises(ConfigError, match="'other' is not a key"):
        load_settings(conf, env={})


def test_topics_parser():
    assert parse_topics("a: https://sqs/1/a\nb: http://127.0.0.1:5000/1/b\n") == {
        "a": "https://sqs/1/a", "b": "http://127.0.0.1:5000/1/b"}  # fmt: skip
    assert parse_topics("") == {}
    for bad in ("- a\n- b", "a: [1]", "a: ftp://x", "a: {", "1: https://x"):
        with pytest.raises(TopicsError):
            parse_topics(bad)


def test_configurator_file_urls(tmp_path):
    s = load_settings(None, env={"RS_CONFIGURATOR_URL": f"file://{tmp_path}/i.yaml"})
    assert s.configurator.file_path == tmp_path / "i.yaml"
    with pytest.raises(ConfigError, match="names host"):
        load_settings(None, env={"RS_CONFIGURATOR_URL": "file://conf/i.yaml"})


@given(st.text(max_size=300))
def test_any_app_conf_text_parses_or_raises_syntax_error(text):
    with contextlib.suppress(AppConfSyntaxError):
        parse_app_conf(text)


@given(st.sampled_from(KEYS), st.text(max_size=40))
def test_any_value_for_any_key_loads_or_raises_config_error(spec, value):
    try:
        load_settings(None, env={spec.env_var: value})
    except ConfigError as exc:
        assert exc.problems[0].startswith(spec.key)


def test_every_key_and_env_var_is_documented():
    doc = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    for spec in KEYS:
        assert f"`{spec.key}`" in doc, spec.key
        assert f"`{spec.env_var}`" in doc, spec.env_var


def _another_value(spec):
    """A valid value of ``spec`` other than its default, or None when there is none."""
    kind = spec.kind
    candidates = {
        kinds.Integer: lambda: [str(kind.minimum), str(kind.maximum)],
        kinds.Size: lambda: [str(kind.minimum), str(kind.maximum)],
        kinds.OptionalInteger: lambda: ["7"],
        kinds.Boolean: lambda: ["true", "false"],
        kinds.Choice: lambda: list(kind.allowed),
        kinds.Text: lambda: ["something else"],
        kinds.Url: lambda: ["https://elsewhere.example/api"],
        kinds.Region: lambda: ["us-east-2"],
        kinds.BucketNames: lambda: ["another-bucket"],
        kinds.Address: lambda: ["127.0.0.1:1"],
    }[type(kind)]()
    default = spec.default_value
    return next((c for c in candidates if spec.parse(c) != default), None)


@pytest.mark.parametrize("spec", KEYS, ids=lambda spec: spec.key)
def test_every_key_reaches_the_typed_settings(spec):
    """The builder maps every declared key onto Settings (only a key with a single allowed
    value, such as source.type, has nothing to carry)."""
    value = _another_value(spec)
    if value is None:
        assert isinstance(spec.kind, kinds.Choice) and len(spec.kind.allowed) == 1
        return
    default = load_settings(None, env={})
    changed = load_settings(None, env={spec.env_var: value})
    assert changed.values[spec.key] == spec.parse(value)
    assert dataclasses.replace(changed, values={}, origins={}) != dataclasses.replace(
        default, values={}, origins={}
    ), f"{spec.key} is declared but never reaches Settings"
