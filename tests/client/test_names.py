"""DRACOON naming rules: validation names the bad part; sanitising always gives a valid name."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recording_storage.dracoon.client import RoomNameError, sanitize_name, validate_name
from recording_storage.dracoon.client.names import name_problem, split_room_path


@pytest.mark.parametrize(
    "name",
    ["Recordings", "Team A", "2024-05-01 Weekly", "a.b", "émoji 🎥", "x" * 150, "CONSOLE", "com10"],
)
def test_valid_names_pass(name):
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (".", "'.'"),
        ("..", "'.'"),
        ("x" * 151, "151 characters"),
        ("a/b", "forbidden"),
        ("a\\b", "forbidden"),
        ("what?", "forbidden"),
        ('say "hi"', "forbidden"),
        ("a<b>c", "forbidden"),
        ("a|b", "forbidden"),
        ("a*b", "forbidden"),
        ("a:b", "forbidden"),
        ("-dash", "start with '-'"),
        ("dot.", "end with '.'"),
        ("CON", "reserved"),
        ("nul.txt", "reserved"),
        ("Lpt9", "reserved"),
        ("COM1.tar.gz", "reserved"),
        ("tab\there", "control"),
    ],
)
def test_invalid_names_raise_with_the_rule(name, rule):
    with pytest.raises(RoomNameError) as info:
        validate_name(name)
    assert info.value.name == name
    assert rule in str(info.value)


def test_room_path_errors_name_the_offending_part():
    with pytest.raises(RoomNameError) as info:
        split_room_path("Meetings/bad:part/ok")
    assert info.value.name == "bad:part"
    assert "bad:part" in str(info.value)
    with pytest.raises(RoomNameError):
        split_room_path("a//b")
    with pytest.raises(RoomNameError):
        split_room_path("/")
    with pytest.raises(RoomNameError):
        split_room_path(["ok", "a/b"])


def test_room_path_splitting():
    assert split_room_path("a/b/c") == ["a", "b", "c"]
    assert split_room_path("/a/b/") == ["a", "b"]
    assert split_room_path(["x", "y"]) == ["x", "y"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Weekly: Sales/Marketing?", "Weekly_ Sales_Marketing_"),
        ("-starts", "_starts"),
        ("ends...", "ends"),
        ("CON", "CON_"),
        ("aux.mp4", "aux_.mp4"),
        ("", "_"),
        ("..", "_"),
        ("  padded  ", "padded"),
        ("x" * 200, "x" * 150),
    ],
)
def test_sanitize_examples(raw, expected):
    assert sanitize_name(raw) == expected


@given(st.text(max_size=300))
def test_sanitize_always_gives_a_valid_name(value):
    result = sanitize_name(value)
    assert name_problem(result) is None, (value, result)


def test_sanitize_refuses_a_bad_replacement():
    with pytest.raises(ValueError):
        sanitize_name("a/b", replacement="/")
