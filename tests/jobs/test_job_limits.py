"""Caps on one job (issue 13, item 8): target rooms per job (dracoon.maxTargetsPerJob) and
rules per instance (dracoon.maxTargetRulesPerInstance). Over a cap the job fails permanently
before any upload, with an error naming the instance and the key, and the right log code;
the S3 object is kept. (Fake DRACOON client, real S3 on the moto server.)"""

from __future__ import annotations

import json
import logging

import pytest

from recording_storage.config import load_settings
from recording_storage.jobs.runner import InvalidMessageError, JobError
from tests.jobs.conftest import readme_message
from tests.jobs.test_runner import KEYS, body, make_runner

DOMAIN = "24slocal.new.com"


@pytest.fixture
def settings_with(aws_env):
    def make(**env):
        return load_settings(None, env={**aws_env, **env})

    return make


def codes(caplog) -> list[int]:
    return [getattr(record, "code", None) for record in caplog.records]


def test_message_with_more_targets_than_the_cap_is_invalid(settings_with, s3_bucket, caplog):
    s3_bucket.put("k/v.mp4", b"x" * 10)
    runner, clients = make_runner(settings_with(RS_DRACOON_MAXTARGETSPERJOB="3"), {DOMAIN: KEYS})
    rooms = [(f"room-{n}",) for n in range(4)]
    with caplog.at_level(logging.INFO), pytest.raises(InvalidMessageError) as info:
        runner.run(body(s3_bucket.name, targets=rooms), job_id="j1")
    text = str(info.value)
    assert "4 target rooms" in text and DOMAIN in text and "dracoon.maxTargetsPerJob (3)" in text
    assert info.value.field == "storage.extra.dracoon.targets"
    assert info.value.instance == DOMAIN
    assert 15007 in codes(caplog)
    assert all(client.uploads == 0 for client in clients)
    assert s3_bucket.exists("k/v.mp4")


def test_at_the_cap_the_job_runs(settings_with, s3_bucket):
    s3_bucket.put("k/v.mp4", b"x" * 10)
    runner, _clients = make_runner(settings_with(RS_DRACOON_MAXTARGETSPERJOB="3"), {DOMAIN: KEYS})
    result = runner.run(body(s3_bucket.name, targets=[(f"r{n}",) for n in range(3)]), job_id="j")
    assert len(result.files) == 3


def test_instance_rules_selecting_too_many_rooms_fail_as_configuration(
    settings_with, s3_bucket, caplog
):
    s3_bucket.put("k/v.mp4", b"x" * 10)
    rules = [{"meetingTypeId": "*any*", "copyTo": [{"path": f"room-{n}"} for n in range(3)]}]
    keys = {**KEYS, "recordings.dracoon.targets": json.dumps(rules)}
    runner, clients = make_runner(settings_with(RS_DRACOON_MAXTARGETSPERJOB="2"), {DOMAIN: keys})
    message = json.dumps(readme_message(bucket=s3_bucket.name, keys=["k/v.mp4"], targets=[]))
    with caplog.at_level(logging.INFO), pytest.raises(JobError) as info:
        runner.run(message, job_id="j2")
    assert info.value.retryable is False
    text = str(info.value)
    assert f"instance {DOMAIN}" in text and "dracoon.maxTargetsPerJob (2)" in text
    assert 15018 in codes(caplog)
    assert all(client.uploads == 0 for client in clients)
    assert s3_bucket.exists("k/v.mp4")


def test_an_instance_with_too_many_rules_fails_permanently(settings_with, s3_bucket, caplog):
    s3_bucket.put("k/v.mp4", b"x" * 10)
    rules = [{"meetingTypeId": n, "copyTo": [{"path": f"room-{n}"}]} for n in range(5)]
    keys = {**KEYS, "recordings.dracoon.targets": json.dumps(rules)}
    runner, _clients = make_runner(
        settings_with(RS_DRACOON_MAXTARGETRULESPERINSTANCE="4"), {DOMAIN: keys}
    )
    message = json.dumps(readme_message(bucket=s3_bucket.name, keys=["k/v.mp4"], targets=[]))
    with caplog.at_level(logging.INFO), pytest.raises(JobError) as info:
        runner.run(message, job_id="j3")
    assert info.value.retryable is False
    text = str(info.value)
    assert "lists 5 rules" in text and DOMAIN in text
    assert "dracoon.maxTargetRulesPerInstance (4)" in text
    assert 15018 in codes(caplog)
    assert s3_bucket.exists("k/v.mp4")


def test_the_caps_default_to_50_targets_and_100_rules(settings_with):
    dracoon = settings_with().dracoon
    assert dracoon.max_targets_per_job == 50
    assert dracoon.max_target_rules_per_instance == 100
    assert dracoon.upload_memory == 160 * 1024 * 1024
