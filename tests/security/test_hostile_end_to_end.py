"""A hostile message can never make the service write outside the instance's parent room.

Real protocols: the ``recording-storage transfer`` CLI as a subprocess, the moto S3 server and
the DRACOON emulator (tests/jobs/conftest.py's ``service``). After every hostile job the
emulator's node list is inspected: each new node lies below the parent room ``/Recordings``,
has a valid DRACOON name, and the sibling room ``/Plain`` is untouched."""

from __future__ import annotations

import pytest

from tests.jobs.conftest import readme_message
from tests.security.hostile import assert_valid_dracoon_name

pytestmark = pytest.mark.slow

# S3 keys that moto stores as they are and that must become valid file names.
HOSTILE_KEYS = [
    "../escape.mp4",
    "/leading-slash.mp4",
    "  spaced  key .mp4",
    "a/../../b.mp4",
    "dir with spaces/\u00e4 \u00f6 cafe\u0301.mp4",
    "x/video\u202e4pm.exe",
    "x/..",
    "sub\\dir\\f.mp4",
    "CON",
    "-rf.mp4",
    "z/" + "\u00e9" * 400 + ".mp4",
    "x/\u200b",
]


def message(keys, targets, *, type_name, bucket, **extra_dracoon) -> dict:
    data = readme_message(bucket=bucket, keys=keys, targets=targets)
    data["meeting"]["type"]["name"] = type_name
    if targets is not None:
        data["storage"]["extra"]["dracoon"].update(extra_dracoon)
    return data


def new_nodes(service, before: dict) -> list[dict]:
    return [n for n in service.nodes() if n["id"] not in before]


def assert_inside_parent_room(service, before: dict) -> None:
    nodes = {n["id"]: n for n in service.nodes()}
    parent = service.node("/Recordings")
    plain = service.node("/Plain")
    for node in nodes.values():
        if node["id"] in before:
            continue
        assert node["path"].startswith("/Recordings/"), node["path"]
        assert_valid_dracoon_name(node["name"])
        ancestors, current = [], node
        while current["parentId"]:
            ancestors.append(current["parentId"])
            current = nodes[current["parentId"]]
        assert parent["id"] in ancestors, node["path"]
        assert plain["id"] not in ancestors, node["path"]


def test_hostile_messages_stay_inside_the_parent_room(service, s3_bucket):
    before = {n["id"]: n for n in service.nodes()}
    plain = service.node("/Plain")
    for index, key in enumerate(HOSTILE_KEYS):
        s3_bucket.put(key, f"recording {index}".encode())

    # 1. Hostile keys, variables and paths that are accepted: everything lands below the room.
    accepted = message(
        HOSTILE_KEYS,
        [
            {"path": "/abs/$meetingType"},
            {"path": "..\\..\\Plain"},
            {"path": "%2e%2e/%2e%2e/Plain"},
            {"path": "$meetingType/${meetingId}"},
            {"path": "Plain/$meetingType"},  # a new room "Plain" below the parent room
        ],
        type_name="../../Plain/\u202eevil\x00\n",
        bucket=s3_bucket.name,
        parentRoomId=plain["id"],  # unknown fields: ignored, never a parent room
        **{"parent-room-id": plain["id"]},
    )
    status, out, err = service.transfer(accepted, env={"RS_S3_REMOVEAFTERTRANSFERRING": "false"})
    assert status == 0, err
    assert len(out["files"]) == len(HOSTILE_KEYS) * 5
    assert_inside_parent_room(service, before)
    names = {n["name"] for n in new_nodes(service, before) if n["type"] == "file"}
    assert {"escape.mp4", "leading-slash.mp4", "spaced key .mp4", "video_4pm.exe", "CON_"} <= names

    # 2. Instance rules ("all/$meetingType") with a hostile meeting type: one level, inside.
    status, _out, err = service.transfer(
        message(["-rf.mp4"], None, type_name="..\\../..", bucket=s3_bucket.name)
    )
    assert status == 0, err
    assert_inside_parent_room(service, before)

    # 3. Hostile values that are refused: an invalid message (exit 3) naming the field.
    refused = [
        ([{"path": "../Plain"}], "..", "storage.extra.dracoon.targets[0].path"),
        ([{"path": "$meetingType"}], "..", "storage.extra.dracoon.targets[0].path"),
        ([{"path": "a/./b"}], "x", "storage.extra.dracoon.targets[0].path"),
        ([{"path": "ok"}], "x" * 10_000, "meeting.type.name"),
        ([{"path": "a/" * 25}], "x", "storage.extra.dracoon.targets[0].path"),
    ]
    for targets, type_name, field in refused:
        hostile = message(["-rf.mp4"], targets, type_name=type_name, bucket=s3_bucket.name)
        status, out, err = service.transfer(hostile)
        assert status == 3, err
        assert out["field"] == field
        assert '"code": 15007' in err
    for body, field in [
        ('{"storage": {"type": "dracoon", "extra": {"aws.s3": {"bucket": "bkt", "keys": '
         '["\\ud800"]}}}, "instance": {"domain": "24slocal.new.com"}}',
         'storage.extra["aws.s3"].keys[0]'),
        ("[" * 50_000, "(body)"),
    ]:  # fmt: skip
        status, out, err = service.transfer(body)
        assert status == 3 and out["field"] == field, err

    assert_inside_parent_room(service, before)
    plain_children = [n for n in service.nodes() if n["parentId"] == plain["id"]]
    assert [n for n in plain_children if n["id"] not in before] == []


def test_bucket_outside_the_allow_list_is_refused(service, s3_bucket):
    s3_bucket.put("a/v.mp4", b"video")
    job = readme_message(bucket=s3_bucket.name, keys=["a/v.mp4"], targets=[{"path": "r"}])
    before = {n["id"] for n in service.nodes()}

    status, out, err = service.transfer(job, env={"RS_S3_ALLOWEDBUCKETS": "other-bucket,more"})

    assert status == 3, err
    assert out["field"] == 'storage.extra["aws.s3"].bucket'
    assert "s3.allowedBuckets" in out["error"]
    assert '"code": 15007' in err
    assert s3_bucket.exists("a/v.mp4")  # untouched
    assert {n["id"] for n in service.nodes()} == before  # nothing created, not even a room

    status, _out, err = service.transfer(job, env={"RS_S3_ALLOWEDBUCKETS": s3_bucket.name})
    assert status == 0, err
