import pytest
from hypothesis import given
from hypothesis import strategies as st

from recording_storage.jobs.templates import TemplateError, render_path, sanitize_name

VARIABLES = {"instance": "24slocal.new.com", "meetingType": "live now", "meetingId": "22980",
             "year": "2017", "month": "09", "missing": None}  # fmt: skip


def test_readme_variables_in_both_forms():
    assert render_path("recordings/$instance/${meetingType}", VARIABLES) == [
        "recordings", "24slocal.new.com", "live now"]  # fmt: skip
    assert render_path("/${year}-$month $$ $meetingId/", VARIABLES) == ["2017-09 $ 22980"]


@pytest.mark.parametrize("value", ["a/b", "../../etc", "..", "/", "a\\b", "x/../../y"])
def test_a_value_never_adds_levels_or_escapes(value):
    try:
        path = render_path("rooms/$meetingType", {**VARIABLES, "meetingType": value})
    except TemplateError:
        return
    assert len(path) == 2
    assert path[0] == "rooms"
    assert "/" not in path[1] and path[1] not in ("", ".", "..")


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("a/../b", "'..'"),
        ("./a", "'.'"),
        ("a//b", "level 2"),
        ("", "empty"),
        ("$nope", "unknown variable \\$nope"),
        ("$missing", "no value"),
        ("cost $ 5", "\\$\\$"),
        ("${a b}", "not a variable name"),
        ("a/" * 30, "levels"),
    ],
)
def test_bad_templates_are_refused_with_a_reason(template, named):
    with pytest.raises(TemplateError, match=named):
        render_path(template, VARIABLES)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('a<b>c:d"e|f?g*h', "a_b_c_d_e_f_g_h"),
        ("  -leading dash", "_leading dash"),
        ("trailing dots...", "trailing dots"),
        ("tab\tand\nnewline", "tab and newline"),
        ("nul\x00char", "nul_char"),
        ("CON", "CON_"),
        ("lpt1.txt", "lpt1_.txt"),
        ("x" * 200, "x" * 150),
    ],
)
def test_sanitize_name(raw, clean):
    assert sanitize_name(raw) == clean


@given(st.text(max_size=300))
def test_any_value_gives_one_safe_level_or_template_error(value):
    try:
        path = render_path("parent/${meetingType}", {"meetingType": value})
    except TemplateError:
        return
    assert len(path) == 2
    name = path[1]
    assert 0 < len(name) <= 150
    assert name not in (".", "..")
    assert not any(ch in name for ch in '\\<>:"|?*/')
    assert not name.startswith("-") and not name.endswith(".")
