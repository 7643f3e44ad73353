"""Numbers in configuration accept only the ASCII digits 0-9, expiration limits agree with
each other, and a meeting type that no target uses is not an error."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from recording_storage.config import ConfigError, load_settings
from recording_storage.configurator.base import InstanceConfig, InstanceConfigError
from recording_storage.jobs.expiration import ExpirationError, parse_expiration
from recording_storage.numbers import plain_int
from tests.jobs.conftest import readme_message
from tests.jobs.test_runner import KEYS, make_runner, settings  # noqa: F401 - fixture

NOT_PLAIN = ["1_000", "+5", "-5", "\u0665", "\uff15", "\u20035", "5\u00a0", "5.0", "1e3", "",
             "0x10", "5 5", "1" * 19]  # fmt: skip


@pytest.mark.parametrize("value", NOT_PLAIN)
def test_plain_int_refuses_everything_but_ascii_digits(value):
    with pytest.raises(ValueError, match="digits 0-9 only"):
        plain_int(value)


@pytest.mark.parametrize(("value", "number"), [("5", 5), (" 5\t", 5), ("0012", 12), ("0", 0)])
def test_plain_int_accepts_ascii_digits_with_spaces_around(value, number):
    assert plain_int(value) == number


@pytest.mark.parametrize("value", ["1_0", "+2", "\u0662", "\uff12", "\u2003" + "2"])
def test_config_integers_refuse_look_alikes(value):
    with pytest.raises(ConfigError) as error:
        load_settings(None, env={"RS_WORKERS_FILETRANSFERER_COUNT": value})
    [problem] = error.value.problems
    assert problem.startswith("workers.FileTransferer.count") and "0-9 only" in problem


@pytest.mark.parametrize("value", ["\u0662\u0660MiB", "\uff12\uff10MiB", "20_000k", "+20MiB"])
def test_config_sizes_refuse_look_alikes(value):
    with pytest.raises(ConfigError, match=r"s3\.chunkSize"):
        load_settings(None, env={"RS_S3_CHUNKSIZE": value})


def test_config_sizes_and_integers_still_accept_plain_forms():
    loaded = load_settings(None, env={"RS_S3_CHUNKSIZE": " 20 MiB ",
                                      "RS_WORKERS_FILETRANSFERER_COUNT": "2 "})  # fmt: skip
    assert loaded.s3.chunk_size == 20 * 1024 * 1024
    assert loaded.workers.file_transferer.count == 2


@pytest.mark.parametrize("value", ["1_000", "+1000", "\u0661\u0660\u0660\u0660", "1000.0", True])
def test_instance_parent_room_id_refuses_look_alikes(value):
    keys = dict(KEYS, **{"recordings.dracoon.parent-room-id": value})
    with pytest.raises(InstanceConfigError, match="digits 0-9"):
        InstanceConfig.from_mapping("a.example", keys)


@pytest.mark.parametrize("value", [1000, "1000", " 1000 "])
def test_instance_parent_room_id_accepts_numbers(value):
    keys = dict(KEYS, **{"recordings.dracoon.parent-room-id": value})
    assert InstanceConfig.from_mapping("a.example", keys).parent_room_id == 1000


@pytest.mark.parametrize(
    "phrase", ["100 years", "1200 months", "36524 days", "5217 weeks", "99 years 12 months"]
)
def test_every_way_of_writing_100_years_is_allowed(phrase):
    assert parse_expiration(phrase) is not None


@pytest.mark.parametrize(
    "phrase", ["101 years", "1201 months", "36525 days", "5218 weeks", "100 years 1 day"]
)
def test_every_way_of_writing_more_than_100_years_is_refused(phrase):
    with pytest.raises(ExpirationError, match="more than 100 years"):
        parse_expiration(phrase)


def test_100_years_and_1200_months_expire_on_the_same_day():
    start = datetime(2024, 2, 29, 12, tzinfo=UTC)
    years, months = parse_expiration("100 years"), parse_expiration("1200 months")
    assert years.expire_at(start) == months.expire_at(start)


@pytest.mark.parametrize("type_id", ["\u0661\u0664", "+14", "014", "15", "99", "live now"])
def test_a_meeting_type_that_no_target_uses_is_not_an_error(settings, s3_bucket, type_id):  # noqa: F811
    """Rules for type 14 (and an empty copyTo for 15): a message of another type - also one
    whose id only looks like 14 - transfers nothing, succeeds and keeps the S3 object."""
    s3_bucket.put("k/v.mp4", b"x")
    rules = [{"meetingTypeId": 14, "copyTo": [{"path": "x"}]},
             {"meetingTypeId": 15, "copyTo": []}]  # fmt: skip
    runner, clients = make_runner(settings, {"24slocal.new.com": KEYS | {
        "recordings.dracoon.targets": json.dumps(rules)}})  # fmt: skip
    message = readme_message(bucket=s3_bucket.name, keys=["k/v.mp4"], targets=None)
    message["meeting"]["type"] = {"id": type_id, "name": "other"}

    result = runner.run(json.dumps(message), job_id="j")

    assert result.files == [] and result.s3_deleted is False
    assert s3_bucket.exists("k/v.mp4") and clients == []


@pytest.mark.parametrize("phrase", ["\u0661 year", "\uff11 day", "1_0 days", "+1 day", "1.5 years"])
def test_expiration_numbers_are_ascii_digits_only(phrase):
    with pytest.raises(ExpirationError):
        parse_expiration(phrase)
