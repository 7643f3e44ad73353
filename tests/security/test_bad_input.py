"""Property-based bad input: every parser either accepts a value or raises its documented
validation error naming the bad field; whatever is accepted becomes valid DRACOON names below
the parent room. (tests/jobs holds the per-parser examples; this file throws hostile values.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recording_storage.config import KEYS, ConfigError, load_settings
from recording_storage.config.appconf import AppConfSyntaxError, parse_app_conf
from recording_storage.config.topics import TopicsError, parse_topics
from recording_storage.configurator.base import InstanceConfig, InstanceConfigError
from recording_storage.jobs.expiration import ExpirationError, parse_expiration
from recording_storage.jobs.message import (
    MAX_KEYS,
    InvalidMessageError,
    file_name_of,
    parse_message,
)
from recording_storage.jobs.targets import (
    TargetRulesError,
    parse_target_rules,
    resolve_targets,
    select_targets,
)
from recording_storage.jobs.templates import TemplateError, render_path, sanitize_name
from tests.security.hostile import (
    HOSTILE_KEYS,
    HOSTILE_TEXT,
    assert_valid_dracoon_name,
    hostile_text,
)

README = json.loads((Path(__file__).parents[1] / "jobs/data/readme-message.json").read_text())
S3 = ["storage", "extra", "aws.s3"]
TARGET = ["storage", "extra", "dracoon", "targets", 0]
S3_FIELD = 'storage.extra["aws.s3"]'
TARGET_FIELD = "storage.extra.dracoon.targets[0]"
# A template that uses every message variable, so hostile values reach the renderer.
EVERY_VARIABLE = "r/$instance/$meetingType/$meetingTypeId/$meetingId/$year-$month-$day/$date"
INSTANCE_RULES = parse_target_rules(
    [{"meetingTypeId": "*any*", "copyTo": [{"path": "all/$meetingType/${meetingId}"}]}]
)

# (where in the message, the field an error must name)
FIELDS = [
    (["storage", "type"], "storage.type"),
    ([*S3, "bucket"], f"{S3_FIELD}.bucket"),
    ([*S3, "keys", 0], f"{S3_FIELD}.keys[0]"),
    ([*TARGET, "path"], f"{TARGET_FIELD}.path"),
    ([*TARGET, "expiration"], f"{TARGET_FIELD}.expiration"),
    (["meeting", "id"], "meeting.id"),
    (["meeting", "type", "id"], "meeting.type.id"),
    (["meeting", "type", "name"], "meeting.type.name"),
    (["meeting", "user", "name"], "meeting.user.name"),
    (["meeting", "date"], "meeting.date"),
    (["instance", "domain"], "instance.domain"),
]


def readme_message(targets=None) -> dict:
    data = json.loads(json.dumps(README))
    data["meeting"].setdefault("type", {})["id"] = 14
    data["storage"]["extra"]["dracoon"]["targets"] = targets or [{"path": EVERY_VARIABLE}]
    return data


def put(data: dict, path: list, value) -> None:
    node = data
    for name in path[:-1]:
        node = node.setdefault(name, {}) if isinstance(name, str) else node[name]
    node[path[-1]] = value


def check_message(body: str | bytes, bad_fields: tuple[str, ...]) -> None:
    """Parse and resolve ``body``: success gives valid names, failure names a bad field."""
    try:
        message = parse_message(body)
        targets = resolve_targets(message, select_targets(message, INSTANCE_RULES))
    except InvalidMessageError as exc:
        assert exc.field.startswith(bad_fields), (exc.field, bad_fields)
        assert exc.problem and exc.field in str(exc)
        return
    assert 1 <= len(message.keys) <= MAX_KEYS
    for key in message.keys:
        assert_valid_dracoon_name(sanitize_name(file_name_of(key)))
    for target in targets:
        assert 1 <= len(target.room_path) <= 20
        for name in target.room_path:
            assert_valid_dracoon_name(name)


# -- job messages -----------------------------------------------------------------------------


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), st.one_of(hostile_text, json_value))
def test_a_hostile_field_is_accepted_safely_or_named(where, value):
    path, field = where
    data = readme_message()
    put(data, path, value)
    # A hostile variable may also make the template's level unusable: then the path is named.
    check_message(json.dumps(data), (field, f"{TARGET_FIELD}.path"))


@settings(max_examples=150)
@given(st.lists(st.sampled_from(FIELDS), min_size=2, max_size=5, unique_by=lambda w: w[1]),
       st.lists(hostile_text, min_size=5, max_size=5))  # fmt: skip
def test_several_hostile_fields_at_once(wheres, values):
    data = readme_message()
    for (path, _), value in zip(wheres, values, strict=False):
        put(data, path, value)
    check_message(json.dumps(data), (*(f for _, f in wheres), f"{TARGET_FIELD}.path"))


@settings(max_examples=200)
@given(st.lists(st.one_of(st.sampled_from(HOSTILE_KEYS), hostile_text), min_size=1, max_size=8))
def test_hostile_keys_become_valid_file_names_or_are_named(keys):
    data = readme_message()
    put(data, [*S3, "keys"], keys)
    check_message(json.dumps(data), (f"{S3_FIELD}.keys",))


@settings(max_examples=200)
@given(st.lists(st.fixed_dictionaries({"path": hostile_text},
                                      optional={"expiration": st.none() | hostile_text}),
                max_size=6))  # fmt: skip
def test_hostile_target_lists(targets):
    data = readme_message()
    data["storage"]["extra"]["dracoon"]["targets"] = targets
    check_message(json.dumps(data), ("storage.extra.dracoon.targets",))


@pytest.mark.parametrize("value", HOSTILE_TEXT)
def test_every_hostile_meeting_type_name_is_one_safe_room_or_named(value):
    data = readme_message([{"path": "rooms/$meetingType"}])
    data["meeting"]["type"]["name"] = value
    try:
        message = parse_message(json.dumps(data))
        [target] = resolve_targets(message, select_targets(message, []))
    except InvalidMessageError as exc:
        assert exc.field in ("meeting.type.name", f"{TARGET_FIELD}.path")
        return
    assert target.room_path[0] == "rooms" and len(target.room_path) == 2  # never a new level
    assert_valid_dracoon_name(target.room_path[1])


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"a": ' * 60_000 + "1" + "}" * 60_000, "larger than"),
        (b"\xed\xa0\x80", "not valid JSON"),  # a UTF-8 encoded surrogate
        ('{"storage": 1e999}', "storage"),
    ],
)
def test_hostile_bodies(body, problem):
    with pytest.raises(InvalidMessageError, match=problem):
        parse_message(body)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["instance", "domain"], "24slocal.new.com\n", "instance.domain"),
        (["instance", "domain"], "host:\u0661\u0662", "instance.domain"),  # Arabic-Indic digits
        ([*S3, "bucket"], "bucket\n", f"{S3_FIELD}.bucket"),
        ([*S3, "bucket"], "../bucket", f"{S3_FIELD}.bucket"),
        ([*S3, "bucket"], "my bucket", f"{S3_FIELD}.bucket"),
        ([*S3, "bucket"], "b\u00fccket", f"{S3_FIELD}.bucket"),
        ([*S3, "bucket"], "b" * 300, f"{S3_FIELD}.bucket"),
        ([*S3, "keys", 0], "\ud800.mp4", f"{S3_FIELD}.keys[0]"),
        ([*S3, "keys", 0], "a\x85b.mp4", f"{S3_FIELD}.keys[0]"),
        ([*S3, "keys", 0], "k" * 1025, f"{S3_FIELD}.keys[0]"),
        (["meeting", "type", "name"], "x" * 10_000, "meeting.type.name"),
        (["meeting", "type", "name"], "\udfff", "meeting.type.name"),
        ([*TARGET, "expiration"], "1" * 200_000, f"{TARGET_FIELD}.expiration"),
    ],
)
def test_hostile_values_are_refused_naming_the_field(path, value, field):
    data = readme_message()
    put(data, path, value)
    with pytest.raises(InvalidMessageError) as info:
        parse_message(json.dumps(data))
    assert info.value.field == field


def test_huge_keys_arrays_hit_the_documented_limit():
    data = readme_message()
    put(data, [*S3, "keys"], [f"k/{i}.mp4" for i in range(MAX_KEYS)])
    assert len(parse_message(json.dumps(data)).keys) == MAX_KEYS
    for keys in ([f"k/{i}.mp4" for i in range(MAX_KEYS + 1)], ["same.mp4"] * 20_000):
        put(data, [*S3, "keys"], keys)
        with pytest.raises(InvalidMessageError, match=f"more than {MAX_KEYS} keys") as info:
            parse_message(json.dumps(data))
        assert info.value.field == f"{S3_FIELD}.keys"
    put(data, [*S3, "keys"], ["k" * 1000] * 300)  # > 256 KiB: refused before parsing
    with pytest.raises(InvalidMessageError, match="larger than"):
        parse_message(json.dumps(data))


def test_duplicate_targets_are_deduplicated_first_wins():
    """Equal after NFC and trimming: one target. Another case is another path (DRACOON, not
    this code, decides whether it is another room: tests/jobs/test_room_name_rule.py)."""
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    paths = ["a/" + nfc, "a/" + nfd, "/A/CAF\u00c9/", " a / caf\u00e9 ", "b"]
    data = readme_message([{"path": p, "expiration": f"{i + 1} days"} for i, p in enumerate(paths)])
    message = parse_message(json.dumps(data))
    targets = resolve_targets(message, select_targets(message, []))
    assert [t.room_path for t in targets] == [("a", nfc), ("A", "CAF\u00c9"), ("b",)]
    assert targets[0].expiration.days == 1  # the first spec's expiration is kept
    # The same through a variable: an NFD meeting type equals its NFC room.
    data = readme_message([{"path": "x/caf\u00e9"}, {"path": "x/$meetingType"}])
    data["meeting"]["type"]["name"] = nfd
    message = parse_message(json.dumps(data))
    assert len(resolve_targets(message, select_targets(message, []))) == 1


# -- expiration phrases and templates ---------------------------------------------------------


phrase_parts = st.sampled_from(["1", "12", " ", ",", "day", "Days", "week", "months", "YEAR",
                                "yr", "-", "0", "999999", "1e3", "\u0661", "\t", "\n"])  # fmt: skip


@settings(max_examples=300)
@given(st.one_of(st.lists(phrase_parts, max_size=30).map("".join), hostile_text))
def test_any_phrase_gives_an_expiration_or_an_expiration_error(phrase):
    try:
        expiration = parse_expiration(phrase)
    except ExpirationError as exc:
        assert str(exc)
        return
    if expiration is not None:
        assert (
            0
            < expiration.years * 366
            + expiration.months * 31
            + expiration.weeks * 7
            + (expiration.days)
            <= 100 * 366
        )


def test_a_long_phrase_is_refused_quickly():
    started = time.monotonic()
    for phrase in ("1" * 250_000, "1 day " * 40_000):
        with pytest.raises(ExpirationError, match="longer than"):
            parse_expiration(phrase)
    print(f"two 250 kB phrases refused in {time.monotonic() - started:.3f} s")


template_text = st.one_of(
    st.lists(st.sampled_from(["/", "$", "$$", "${", "}", "$meetingType", "${meetingId}", "..",
                              ".", " ", "\\", "x", "\u202e", "$nope", "{", "\x00"]),
             max_size=25).map("".join),
    hostile_text,
)  # fmt: skip
variables = st.fixed_dictionaries({"meetingType": st.none() | hostile_text,
                                   "meetingId": st.none() | hostile_text})  # fmt: skip


@settings(max_examples=300)
@given(template_text, variables)
def test_any_template_gives_valid_names_or_a_template_error(template, values):
    try:
        names = render_path(template, values)
    except TemplateError as exc:
        assert str(exc)
        return
    assert 1 <= len(names) <= 20
    # Values never add levels: the template's own '/' separators decide the count.
    assert len(names) == len(template.strip().strip("/").split("/"))
    for name in names:
        assert_valid_dracoon_name(name)


# -- instance targets JSON --------------------------------------------------------------------


rule = st.fixed_dictionaries(
    {"meetingTypeId": st.one_of(st.just("*any*"), st.integers(), hostile_text, json_value),
     "copyTo": st.one_of(st.lists(st.fixed_dictionaries(
         {"path": st.one_of(template_text, json_value)},
         optional={"expiration": st.one_of(st.none(), hostile_text, json_value)}), max_size=3),
         json_value)}
)  # fmt: skip


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(rule, max_size=4), json_value), st.booleans())
def test_instance_targets_json_parses_or_names_the_element(rules, as_text):
    value = json.dumps(rules) if as_text else rules
    try:
        parsed = parse_target_rules(value)
    except TargetRulesError as exc:
        assert str(exc).startswith("recordings.dracoon.targets"), str(exc)
        return
    message = parse_message(json.dumps(readme_message()))
    message = type(message)(**{**message.__dict__, "targets": ()})
    try:
        targets = resolve_targets(message, select_targets(message, parsed))
    except InvalidMessageError as exc:
        assert exc.field.startswith("recordings.dracoon.targets["), exc.field
        return
    for target in targets:
        for name in target.room_path:
            assert_valid_dracoon_name(name)
    assert len({tuple(n.casefold() for n in t.room_path) for t in targets}) == len(targets)


def test_deeply_nested_instance_targets_json():
    with pytest.raises(TargetRulesError, match="nested too deeply"):
        parse_target_rules("[" * 100_000)


@settings(max_examples=150)
@given(st.dictionaries(st.sampled_from(["recordings.storage", "recordings.dracoon.login",
                                        "recordings.dracoon.parent-room-id",
                                        "recordings.dracoon.password",
                                        "recordings.dracoon.base-url", "recordings"]),
                       json_value, max_size=5))  # fmt: skip
def test_instance_key_maps_load_or_name_the_key_never_the_password(data):
    data = {**data, "recordings.dracoon.password": "pw-SECRET-1"}
    try:
        InstanceConfig.from_mapping("x.example", data).require_dracoon()
    except InstanceConfigError as exc:
        assert "pw-SECRET-1" not in str(exc)
        assert all(problem.startswith("recordings.") for problem in exc.problems), exc.problems


# -- app.conf and topics.yml -------------------------------------------------------------------


conf_line = st.one_of(
    st.builds(lambda spec, value: f"{spec.key} = {value}", st.sampled_from(KEYS),
              hostile_text.filter(lambda v: "\n" not in v and "\r" not in v)),
    st.sampled_from(["[dev]", "= x", "no equals", "# c", "; c", "key with space = 1", '"q" = 1',
                     "s3.chunkSize = '20MiB", "x.y = \x00", "\ufeffs3.chunkSize = 1"]),
)  # fmt: skip


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(conf_line, max_size=6))
def test_any_app_conf_loads_or_lists_one_problem_per_bad_key(tmp_path_factory, lines):
    conf = tmp_path_factory.mktemp("conf") / "app.conf"
    conf.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        load_settings(conf, env={})
    except ConfigError as exc:
        keys = tuple(spec.key for spec in KEYS)
        for problem in exc.problems:
            assert problem.startswith((str(conf), *keys)), problem


@given(st.text(max_size=200))
def test_any_app_conf_text_parses_or_names_the_line(text):
    try:
        parse_app_conf(text, "app.conf")
    except AppConfSyntaxError as exc:
        assert all(line.startswith("app.conf:") for line in str(exc).splitlines())


topics_doc = st.one_of(
    st.dictionaries(hostile_text | st.integers(), st.one_of(
        st.just("https://sqs.eu-central-1.amazonaws.com/1/q"), hostile_text, json_value),
        max_size=4).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(max_size=100),
    st.sampled_from(["a: &x [*x]", "a: !!python/name:os.system",
                     "\x00", "a: b\na: https://x"]),
)  # fmt: skip


@settings(max_examples=200)
@given(topics_doc)
def test_any_topics_yml_parses_or_names_the_problem(text):
    try:
        topics = parse_topics(text, "topics.yml")
    except TopicsError as exc:
        lines = str(exc).splitlines()
        assert lines and all(line.startswith("topics.yml:") for line in lines)
        assert all(len(line) < 400 for line in lines)  # a huge value is shortened
        return
    assert all(isinstance(k, str) and v.startswith(("https://", "http://"))
               for k, v in topics.items())  # fmt: skip


@pytest.mark.parametrize("text", ["[" * 5000, "{a: " * 3000])
def test_deeply_nested_topics_yml(text):
    with pytest.raises(TopicsError, match="nested too deeply"):
        parse_topics(text, "topics.yml")


def test_allowed_buckets_must_be_bucket_names():
    assert load_settings(None, env={"RS_S3_ALLOWEDBUCKETS": " a-b , c.d "}).s3.allowed_buckets == (
        "a-b",
        "c.d",
    )
    for bad in ("my bucket", "../x", "b\u00fccket"):
        with pytest.raises(ConfigError, match=r"s3\.allowedBuckets") as info:
            load_settings(None, env={"RS_S3_ALLOWEDBUCKETS": bad})
        assert len(info.value.problems) == 1
