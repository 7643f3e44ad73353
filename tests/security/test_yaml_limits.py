"""YAML inputs refuse alias bombs, recursive aliases, deep nesting and oversized documents
(instances file, topics.yml, the emulator's seed), with an error that names the file and the
limit. Ordinary anchors and merge keys still load."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from dracoon_emulator.seed import SeedError, load_seed

from recording_storage.config import ConfigError, load_settings
from recording_storage.config.topics import MAX_TOPICS_BYTES, TopicsError, read_topics
from recording_storage.configurator.base import ConfiguratorUnavailableError
from recording_storage.configurator.file import FileConfigurator
from recording_storage.safe_yaml import UnsafeYamlError, load_yaml

# Nine levels of ten aliases each: 10^9 values when expanded, 1 KiB of text.
BILLION_LAUGHS = "a0: &a0 [lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)
RECURSIVE = "a: &a [*a]\n"
DEEP = "x: " + "[" * 200 + "]" * 200 + "\n"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param(BILLION_LAUGHS, "aliases expand to more than", id="billion-laughs"),
        pytest.param(RECURSIVE, "refers to itself", id="recursive-alias"),
        pytest.param(DEEP, "nested", id="deep-nesting"),
        pytest.param("k: " + "v" * 2000 + "\n", "more than 1000", id="oversized"),
    ],
)
def test_load_yaml_refuses(text, says):
    with pytest.raises(UnsafeYamlError, match=says) as refused:
        load_yaml(text, source="input.yml", max_bytes=1000)
    assert str(refused.value).startswith("input.yml: refused")
    assert isinstance(refused.value, yaml.YAMLError)  # callers' YAML handlers catch it


def test_anchors_and_merge_keys_still_load():
    text = (
        "defaults: &defaults\n  recordings.storage: dracoon\n  recordings.dracoon.login: x\n"
        "a.example: {<<: *defaults, recordings.dracoon.parent-room-id: '1'}\n"
    )
    data = load_yaml(text, source="instances.yaml", max_bytes=10_000)
    assert data["a.example"]["recordings.dracoon.login"] == "x"


def test_topics_file_with_an_alias_bomb_is_a_config_error(tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("logger.level = INFO\n")
    topics = tmp_path / "pubsub" / "sqs" / "topics.yml"
    topics.parent.mkdir(parents=True)
    topics.write_text(BILLION_LAUGHS)

    with pytest.raises(ConfigError) as error:
        load_settings(conf, env={})

    assert any(str(topics) in p and "aliases expand" in p for p in error.value.problems)


def test_oversized_topics_file_is_refused_without_reading_it_all(tmp_path):
    topics = tmp_path / "topics.yml"
    topics.write_text("recordings: https://sqs.example/q\n# " + "x" * (4 * MAX_TOPICS_BYTES))
    with pytest.raises(TopicsError, match=f"more than {MAX_TOPICS_BYTES}"):
        read_topics(topics)


def test_instances_file_with_an_alias_bomb_is_refused(tmp_path):
    path = tmp_path / "instances.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(ConfiguratorUnavailableError, match="aliases expand") as error:
        FileConfigurator(path).get_instance("a0")
    assert str(path) in str(error.value)


def test_oversized_instances_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("recording_storage.configurator.file.MAX_INSTANCES_FILE_BYTES", 100)
    path = tmp_path / "instances.yaml"
    path.write_text("a.example: {recordings.storage: dracoon}\n" * 10)
    with pytest.raises(ConfiguratorUnavailableError, match="larger than 100 bytes"):
        FileConfigurator(path).get_instance("a.example")


def test_emulator_seed_with_an_alias_bomb_is_refused(tmp_path):
    path = tmp_path / "seed.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(SeedError, match="aliases expand"):
        load_seed(path)


def test_config_check_reports_the_alias_bomb_and_exits_78(tmp_path):
    """The real CLI process: one clear line, exit status 78, promptly (no hang)."""
    conf = tmp_path / "app.conf"
    conf.write_text("logger.level = INFO\n")
    topics = tmp_path / "pubsub" / "sqs" / "topics.yml"
    topics.parent.mkdir(parents=True)
    topics.write_text(BILLION_LAUGHS)

    done = subprocess.run(
        [sys.executable, "-m", "recording_storage.cli", "--config", str(conf), "config", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )

    assert done.returncode == 78, done.stderr
    assert "aliases expand to more than" in done.stderr and str(topics) in done.stderr
