import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recording_storage.jobs.expiration import Expiration
from recording_storage.jobs.message import InvalidMessageError, parse_message

README_MESSAGE = (Path(__file__).parent / "data" / "readme-message.json").read_text()


def message(**changes) -> dict:
    data = json.loads(README_MESSAGE)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for name in parents:
            node = node[name.replace("_", ".") if name == "aws_s3" else name]
        node[last] = value
    return data


def test_readme_sample_message():
    job = parse_message(README_MESSAGE)
    assert job.storage_type == "dracoon"
    assert job.bucket == "24s-public"
    assert job.keys == ("sandbox/test-video.mp4",)
    assert job.instance_domain == "24slocal.new.com"
    [target] = job.targets
    assert target.path == "some room/sub-room"
    assert target.expiration == Expiration(years=4, months=3, weeks=2, days=1)
    assert job.meeting.id == "22980"
    assert job.meeting.type_name == "live now"
    assert job.template_variables()["year"] == "2017"
    assert job.template_variables()["month"] == "09"


def test_unknown_fields_are_ignored_and_bytes_accepted():
    data = message()
    data["extra"] = {"anything": [1, 2]}
    data["storage"]["extra"]["future"] = True
    assert parse_message(json.dumps(data).encode()).bucket == "24s-public"


def test_no_targets_means_instance_targets():
    data = message()
    del data["storage"]["extra"]["dracoon"]
    assert parse_message(json.dumps(data)).targets == ()
    data["storage"]["extra"]["dracoon"] = {"targets": []}
    assert parse_message(json.dumps(data)).targets == ()


def test_repeated_keys_are_transferred_once():
    data = message()
    data["storage"]["extra"]["aws.s3"]["keys"] = ["a/x.mp4", "b/x.mp4", "a/x.mp4"]
    assert parse_message(json.dumps(data)).keys == ("a/x.mp4", "b/x.mp4")


def _set(data, path, value):
    node = data
    for name in path[:-1]:
        node = node[name]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


DELETE = object()
S3 = ["storage", "extra", "aws.s3"]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["storage", "type"], "s3", "storage.type"),
        (["storage", "type"], DELETE, "storage.type"),
        (["storage", "extra"], [], "storage.extra"),
        ([*S3[:2], "aws.s3"], DELETE, 'storage.extra["aws.s3"]'),
        ([*S3, "bucket"], 42, 'storage.extra["aws.s3"].bucket'),
        ([*S3, "bucket"], "a/b", 'storage.extra["aws.s3"].bucket'),
        ([*S3, "keys"], [], 'storage.extra["aws.s3"].keys'),
        ([*S3, "keys"], "one.mp4", 'storage.extra["aws.s3"].keys'),
        ([*S3, "keys"], ["ok.mp4", ""], 'storage.extra["aws.s3"].keys[1]'),
        ([*S3, "keys"], ["dir/"], 'storage.extra["aws.s3"].keys[0]'),
        ([*S3, "keys"], [f"k{i}" for i in range(101)], 'storage.extra["aws.s3"].keys'),
        (["storage", "extra", "dracoon", "targets"], {}, "storage.extra.dracoon.targets"),
        (["storage", "extra", "dracoon", "targets"], [{"expiration": "1 day"}],
         "storage.extra.dracoon.targets[0].path"),
        (["storage", "extra", "dracoon", "targets"], [{"path": "x", "expiration": "soon"}],
         "storage.extra.dracoon.targets[0].expiration"),
        (["meeting", "date"], "yesterday", "meeting.date"),
        (["meeting", "id"], {"x": 1}, "meeting.id"),
        (["instance", "domain"], "", "instance.domain"),
        (["instance", "domain"], "../evil", "instance.domain"),
        (["instance"], DELETE, "instance"),
    ],
)  # fmt: skip
def test_invalid_messages_name_the_field(path, value, field):
    data = json.loads(README_MESSAGE)
    _set(data, path, value)
    with pytest.raises(InvalidMessageError) as info:
        parse_message(json.dumps(data))
    assert info.value.field == field


@pytest.mark.parametrize("body", ["", "not json", "[]", "null", '"text"', b"\xff\xfe"])
def test_non_object_bodies(body):
    with pytest.raises(InvalidMessageError, match=r"\(body\)"):
        parse_message(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.sampled_from([["storage"], ["storage", "extra"], S3, [*S3, "keys"], ["meeting"],
                        ["meeting", "type"], ["instance"], ["storage", "extra", "dracoon"]]),
       json_values)  # fmt: skip
def test_any_mutation_parses_or_raises_invalid_message(path, value):
    data = json.loads(README_MESSAGE)
    _set(data, path, value)
    try:
        parse_message(json.dumps(data))
    except InvalidMessageError as exc:
        assert exc.field


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_invalid_message(body):
    with contextlib.suppress(InvalidMessageError):
        parse_message(body)
