from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recording_storage.jobs.expiration import Expiration, ExpirationError, parse_expiration

START = datetime(2017, 9, 11, 20, 24, 43, tzinfo=UTC)


def test_readme_phrase():
    expiration = parse_expiration("4 years 3 months 2 weeks 1 day")
    assert expiration == Expiration(years=4, months=3, weeks=2, days=1)
    assert expiration.expire_at(START) == datetime(2021, 12, 26, 20, 24, 43, tzinfo=UTC)


@pytest.mark.parametrize(
    ("phrase", "start", "expected"),
    [
        ("1 month", datetime(2021, 1, 31), datetime(2021, 2, 28)),
        ("1 month", datetime(2024, 1, 31), datetime(2024, 2, 29)),
        ("1 year", datetime(2020, 2, 29), datetime(2021, 2, 28)),
        ("13 months", datetime(2020, 12, 15), datetime(2022, 1, 15)),
        ("1 month 1 day", datetime(2021, 1, 31), datetime(2021, 3, 1)),
        ("2 Weeks", datetime(2021, 12, 25), datetime(2022, 1, 8)),
        ("1day 1 DAY, 1 days", datetime(2021, 1, 1), datetime(2021, 1, 4)),
    ],
)
def test_calendar_arithmetic(phrase, start, expected):
    assert parse_expiration(phrase).expire_at(start) == expected


@pytest.mark.parametrize("phrase", [None, "", "   "])
def test_empty_means_none(phrase):
    assert parse_expiration(phrase) is None


@pytest.mark.parametrize(
    ("phrase", "named"),
    [
        ("1 fortnight", "fortnight"),
        ("forever", "forever"),
        ("1 day and more", "and"),
        ("3", "3"),
        ("-1 day", "-"),
        ("0 days", "zero"),
        ("1000 years", "100 years"),
        ("1234567 days", "too large"),
    ],
)
def test_bad_phrases_name_the_bad_part(phrase, named):
    with pytest.raises(ExpirationError, match=named):
        parse_expiration(phrase)


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_expiration_error(text):
    try:
        result = parse_expiration(text)
    except ExpirationError:
        return
    if result is not None:
        assert result.expire_at(START) > START


@given(
    st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(0, 30),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
)  # fmt: skip
def test_generated_phrases_round_trip(years, months, weeks, days, start):
    if years + months + weeks + days == 0:
        return
    expiration = Expiration(years, months, weeks, days)
    assert parse_expiration(expiration.describe()) == expiration
    assert expiration.expire_at(start) > start
