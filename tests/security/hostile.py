"""Hostile values shared by the bad-input tests: path tricks, control and invisible characters,
Unicode normal forms, 10 kB strings."""

from __future__ import annotations

from hypothesis import strategies as st

from recording_storage.dracoon.client.names import name_problem

HOSTILE_TEXT = [
    "/", "//", "..", "../..", "../../etc/passwd", "a/../../b", "..\\..\\Plain", ".", "...",
    " ", "\t", "\x00", "a\x00b", "\x1b[31mred\x1b[0m", "line\r\nbreak", "\x85next", "\x9b",
    "video\u202e4pm.exe", "zero\u200bwidth", "\ufeffbom", "\u2066isolate\u2069",
    "caf\u00e9", "cafe\u0301", "\uff26\uff55\uff4c\uff4c", "\U0001f3a5" * 3,
    "\u05e9\u05dc\u05d5\u05dd",
    "CON", "nul.txt", "-rf", "$", "$$", "${meetingType}", "%2e%2e%2f", "\\", "a:b|c?*",
    "x" * 10_000, "\U0001f3a5" * 3000, "name\n", "Recordings", "\ud800",
]  # fmt: skip

hostile_text = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=40),
    st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE_TEXT), st.text(max_size=10)),
)

HOSTILE_KEYS = [
    "../escape.mp4", "/leading-slash.mp4", "a/../../b.mp4", "dir with spaces/\u00e4 \u00f6.mp4",
    "x/video\u202e4pm.exe", "x/..", "..", "x/ .", "sub\\dir\\f.mp4", "CON", "-rf.mp4",
    "k" * 1024, "\u00e9" * 512, "a/" + "b" * 1000, "x/\u200b.mp4",
]  # fmt: skip


def assert_valid_dracoon_name(name: str) -> None:
    assert name_problem(name) is None, (name, name_problem(name))
