"""Expiration phrases such as ``"4 years 3 months 2 weeks 1 day"`` (the original format).

A phrase is any combination of ``<number> <period>`` pairs, period being year(s), month(s),
week(s) or day(s) (case-insensitive; repeated periods add up). The expiry date is computed
from the transfer time with calendar arithmetic: years and months first, clamping the day
to the end of a shorter month (Jan 31 + 1 month = Feb 28/29), then weeks and days. An empty
phrase means "never expires". Anything else is an ``ExpirationError`` naming the bad part.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_PAIR = re.compile(r"([0-9]+)\s*([A-Za-z]+)")
_PERIODS = {
    "year": "years",
    "years": "years",
    "month": "months",
    "months": "months",
    "week": "weeks",
    "weeks": "weeks",
    "day": "days",
    "days": "days",
}
# The longest expiration: 100 years, however it is written. Every period is measured in
# average Gregorian days (a year is 365.2425 days, a month a twelfth of that), so "100 years",
# "1200 months" and "36524 days" are all allowed and "101 years" or "1201 months" are not.
# Counted in 1/4800 day units to stay in exact integers: a month is 146097/4800 days.
MAX_YEARS = 100
_MONTH_UNITS = 146097  # one average month, in 1/4800 days
_DAY_UNITS = 4800
_MAX_UNITS = MAX_YEARS * 12 * _MONTH_UNITS
# Real phrases are short; the cap also keeps the pair search linear-time in practice (a long
# run of digits without a period costs quadratic regex backtracking).
MAX_PHRASE_LENGTH = 200


class ExpirationError(ValueError):
    """The phrase is not ``<number> <period>`` pairs; the message quotes the bad part."""


@dataclass(frozen=True)
class Expiration:
    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0

    def expire_at(self, start: datetime) -> datetime:
        """``start`` plus this period, with month-end clamping (keeps ``start``'s tzinfo)."""
        total_months = start.month - 1 + self.months + 12 * self.years
        year = start.year + total_months // 12
        month = total_months % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day) + timedelta(
            weeks=self.weeks, days=self.days
        )

    def describe(self) -> str:
        parts = [(self.years, "year"), (self.months, "month"), (self.weeks, "week")]
        parts.append((self.days, "day"))
        return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)


def parse_expiration(phrase: str | None) -> Expiration | None:
    """Parse a phrase; ``None`` or blank means no expiration."""
    if phrase is None:
        return None
    if not isinstance(phrase, str):
        raise ExpirationError(f"must be a text such as '1 year 2 months', got {phrase!r}")
    text = phrase.strip()
    if not text:
        return None
    if len(text) > MAX_PHRASE_LENGTH:
        raise ExpirationError(
            f"{_shorten(text)!r} is longer than {MAX_PHRASE_LENGTH} characters; write it as "
            "'<number> <period>' pairs such as '4 years 3 months 2 weeks 1 day'"
        )
    amounts = {"years": 0, "months": 0, "weeks": 0, "days": 0}
    position = 0
    for match in _PAIR.finditer(text):
        _reject_gap(text, position, match.start())
        number, word = match.group(1), match.group(2)
        period = _PERIODS.get(word.lower())
        if period is None:
            raise ExpirationError(
                f"unknown period {word!r} in {_shorten(text)!r}: use year(s), month(s), "
                "week(s) or day(s)"
            )
        if len(number) > 6:
            raise ExpirationError(f"number {number[:12]!r} in {_shorten(text)!r} is too large")
        amounts[period] += int(number)
        position = match.end()
    _reject_gap(text, position, len(text))
    expiration = Expiration(**amounts)
    units = (12 * expiration.years + expiration.months) * _MONTH_UNITS + (
        7 * expiration.weeks + expiration.days
    ) * _DAY_UNITS
    if units == 0:
        raise ExpirationError(
            f"{_shorten(text)!r} adds up to zero: leave the expiration empty for no expiry"
        )
    if units > _MAX_UNITS:
        raise ExpirationError(
            f"{_shorten(text)!r} is more than {MAX_YEARS} years (at most {MAX_YEARS} years, "
            f"{12 * MAX_YEARS} months, {12 * MAX_YEARS * _MONTH_UNITS // (7 * _DAY_UNITS)} "
            f"weeks or {_MAX_UNITS // _DAY_UNITS} days in all)"
        )
    return expiration


def _reject_gap(text: str, start: int, end: int) -> None:
    gap = text[start:end]
    if gap.strip(" \t,"):
        bad = gap.strip() or gap
        raise ExpirationError(
            f"cannot read {_shorten(bad)!r} in {_shorten(text)!r}: expected '<number> "
            "<year(s)|month(s)|week(s)|day(s)>' pairs such as '4 years 3 months 2 weeks 1 day'"
        )


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
