import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recording_storage.jobs.message import InvalidMessageError, parse_message
from recording_storage.jobs.targets import (
    TargetRulesError,
    parse_target_rules,
    resolve_targets,
    select_targets,
)

README = json.loads((Path(__file__).parent / "data" / "readme-message.json").read_text())


def job(targets=None, type_id=None, type_name="live now"):
    data = json.loads(json.dumps(README))
    if targets is None:
        del data["storage"]["extra"]["dracoon"]
    else:
        data["storage"]["extra"]["dracoon"]["targets"] = targets
    data["meeting"]["type"] = {"name": type_name, "duration": 60}
    if type_id is not None:
        data["meeting"]["type"]["id"] = type_id
    return parse_message(json.dumps(data))


RULES = json.dumps([
    {"meetingTypeId": 14, "copyTo": [{"path": "by-id/$meetingType", "expiration": "1 year"}]},
    {"meetingTypeId": "live now", "copyTo": [{"path": "by-name/$instance"}]},
    {"meetingTypeId": "*any*", "copyTo": [{"path": "all/$year/$month", "expiration": "2 weeks"},
                                          {"path": "by-id/${meetingType}"}]},
])  # fmt: skip


def paths(message, rules):
    return [t.display_path for t in resolve_targets(message, select_targets(message, rules))]


def test_message_targets_win_over_instance_rules():
    message = job([{"path": "mine/$meetingId"}])
    assert paths(message, parse_target_rules(RULES)) == ["mine/22980"]


def test_rules_match_by_id_or_name_and_any_comes_last():
    rules = parse_target_rules(RULES)
    assert paths(job(type_id=14, type_name="webinar"), rules) == [
        "by-id/webinar", "all/2017/09"]  # fmt: skip
    assert paths(job(type_name="LIVE NOW"), rules) == [
        "by-name/24slocal.new.com", "all/2017/09", "by-id/LIVE NOW"]  # fmt: skip
    assert paths(job(type_id=99, type_name="other"), rules) == ["all/2017/09", "by-id/other"]


def test_duplicate_rooms_are_kept_once_first_wins():
    message = job(type_id=14)
    targets = resolve_targets(message, select_targets(message, parse_target_rules(RULES)))
    assert [t.display_path for t in targets] == [
        "by-id/live now", "by-name/24slocal.new.com", "all/2017/09"]  # fmt: skip
    assert targets[0].expiration.years == 1  # the first (specific) rule's expiration wins


def test_no_matching_rule_gives_no_targets():
    rules = parse_target_rules([{"meetingTypeId": 1, "copyTo": [{"path": "x"}]}])
    assert select_targets(job(type_name="other"), rules) == []
    assert parse_target_rules("") == [] and parse_target_rules(None) == []


def test_bad_template_in_message_is_an_invalid_message():
    message = job([{"path": "a/$unknown"}])
    with pytest.raises(InvalidMessageError) as info:
        resolve_targets(message, list(message.targets))
    assert info.value.field == "storage.extra.dracoon.targets[0].path"


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        ("{not json", "not valid JSON"),
        ('{"a": 1}', "must be a JSON list"),
        ("[1]", r"targets\[0\] must be an object"),
        ('[{"copyTo": [{"path": "x"}]}]', r"\[0\].meetingTypeId"),
        ('[{"meetingTypeId": 1}]', r"\[0\].copyTo"),
        ('[{"meetingTypeId": 1, "copyTo": [{"path": ""}]}]', r"copyTo\[0\].path"),
        ('[{"meetingTypeId": 1, "copyTo": [{"path": "x", "expiration": "2 eons"}]}]',
         r"copyTo\[0\].expiration"),
    ],
)  # fmt: skip
def test_bad_rules_name_the_element(rules, named):
    with pytest.raises(TargetRulesError, match=named):
        parse_target_rules(rules)


@given(st.text(max_size=200))
def test_any_rules_text_parses_or_raises_target_rules_error(text):
    with contextlib.suppress(TargetRulesError):
        parse_target_rules(text)
