"""Value kinds of settings: how a raw text value is parsed, checked and described.

A kind is the "type and bounds" part of a setting's declaration (``schema.py``). The same
object parses the value (raising ``ValueError`` with a message that completes "must be ...",
so every error names what is allowed) and describes itself for the generated tables in
docs/ and for ``recording-storage config keys``; the two can therefore not disagree.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from recording_storage.numbers import plain_int
from recording_storage.redact import redact, strip_userinfo

T = TypeVar("T")
MIB = 1024 * 1024


class Kind(ABC, Generic[T]):
    """Parses one raw value (as written in app.conf or an environment variable)."""

    @abstractmethod
    def parse(self, value: str) -> T:
        """The typed value; ``ValueError`` whose message says what is allowed and what came."""

    @abstractmethod
    def describe(self) -> str:
        """What the kind accepts, for the tables in docs/ (Markdown)."""

    def show(self, value: T) -> str:
        """A parsed value as text again (``config check``)."""
        return "" if value is None else str(value)


class Text(Kind[str]):
    def parse(self, value: str) -> str:
        return value

    def describe(self) -> str:
        return "text"


@dataclass(frozen=True)
class Integer(Kind[int]):
    """A whole number in ``minimum..maximum``, ASCII digits only (numbers.plain_int)."""

    minimum: int
    maximum: int

    def parse(self, value: str) -> int:
        number = plain_int(value)  # ValueError: "must be a whole number ... 0-9 only"
        if number < self.minimum:
            raise ValueError(f"must be at least {self.minimum}, got {number}")
        if number > self.maximum:
            raise ValueError(f"must be at most {self.maximum}, got {number}")
        return number

    def describe(self) -> str:
        return f"int {self.minimum}\N{EN DASH}{self.maximum}"


@dataclass(frozen=True)
class OptionalInteger(Kind[int | None]):
    """A whole number of at least ``minimum``, or empty for "not set"."""

    minimum: int = 1

    def parse(self, value: str) -> int | None:
        if not value.strip():
            return None
        number = plain_int(value)
        if number < self.minimum:
            raise ValueError(f"must be at least {self.minimum}, got {number}")
        return number

    def describe(self) -> str:
        return "positive int" if self.minimum == 1 else f"int ≥ {self.minimum}"


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


class Boolean(Kind[bool]):
    def parse(self, value: str) -> bool:
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"must be true or false, got {value!r}")

    def describe(self) -> str:
        return "bool"

    def show(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class Choice(Kind[str]):
    """One of ``allowed`` (case-insensitive); ``aliases`` map other spellings onto them."""

    allowed: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)

    def parse(self, value: str) -> str:
        lowered = value.strip().lower()
        lowered = self.aliases.get(lowered, lowered)
        if lowered not in self.allowed:
            raise ValueError(f"must be one of {', '.join(self.allowed)}, got {value!r}")
        return lowered

    def describe(self) -> str:
        text = ", ".join(self.allowed)
        if self.aliases:
            text += f" (or {min(self.aliases)}\N{EN DASH}{max(self.aliases)})"
        return text


_SIZE = re.compile(r"[ \t]*([0-9]{1,18})[ \t]*(b|k|kb|kib|m|mb|mib|g|gb|gib)?[ \t]*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": MIB, "mb": MIB, "mib": MIB}
_UNITS.update({"g": 1024 * MIB, "gb": 1024 * MIB, "gib": 1024 * MIB})


def _binary(number: int) -> str:
    for unit, factor in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)):
        if number >= factor and number % factor == 0:
            return f"{number // factor} {unit}"
    return f"{number} B"


@dataclass(frozen=True)
class Size(Kind[int]):
    """Bytes, as a plain number (the original form) or with a binary unit: ``20MiB``."""

    minimum: int
    maximum: int
    per: str = ""  # " (per second)" for a rate

    def parse(self, value: str) -> int:
        match = _SIZE.fullmatch(value)
        if not match:
            raise ValueError(f"must be a size in bytes such as 20971520 or 20MiB, got {value!r}")
        number = int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
        if not self.minimum <= number <= self.maximum:
            raise ValueError(
                f"must be between {self.minimum} and {self.maximum} bytes, got {number}"
            )
        return number

    def describe(self) -> str:
        return f"size {_binary(self.minimum)}\N{EN DASH}{_binary(self.maximum)}{self.per}"


@dataclass(frozen=True)
class Url(Kind[str | None]):
    """A URL with one of ``schemes``; empty means "not set" when ``optional``."""

    schemes: tuple[str, ...]
    optional: bool = False

    def parse(self, value: str) -> str | None:
        value = value.strip()
        if not value:
            if self.optional:
                return None
            raise ValueError("must not be empty")
        parts = urlsplit(value)
        if parts.scheme not in self.schemes:
            starts = " or ".join(s + ":" for s in self.schemes)
            raise ValueError(f"must be a URL starting with {starts}")
        if parts.scheme in ("http", "https") and not parts.hostname:
            raise ValueError(f"must name a host, got {redact(value)!r}")
        if parts.scheme == "file" and not (parts.path or parts.netloc):
            raise ValueError(f"must name a file, got {redact(value)!r}")
        # user:password@ is never sent (urllib3 ignores it): keep it out of every message.
        return strip_userinfo(value).rstrip("/") if parts.scheme != "file" else value

    def describe(self) -> str:
        return "URL: " + ", ".join(self.schemes)


class Address(Kind[str]):
    """``host:port``; an empty host means every interface."""

    def parse(self, value: str) -> str:
        host, sep, port = value.strip().rpartition(":")
        if not sep or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
            raise ValueError(f"must be host:port such as 127.0.0.1:8080, got {value!r}")
        return f"{host or '0.0.0.0'}:{int(port)}"

    def describe(self) -> str:
        return "`host:port` (`:8080` means `0.0.0.0:8080`)"


_BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")


class BucketNames(Kind[tuple[str, ...]]):
    """Comma-separated S3 bucket names; a typo must fail loudly, not silently match nothing."""

    def parse(self, value: str) -> tuple[str, ...]:
        names = tuple(item.strip() for item in value.split(",") if item.strip())
        bad = [name for name in names if not _BUCKET_NAME.fullmatch(name)]
        if bad:
            raise ValueError(
                f"must be comma-separated S3 bucket names, got {', '.join(map(repr, bad))}"
            )
        return names

    def describe(self) -> str:
        return "comma-separated bucket names"

    def show(self, value: tuple[str, ...]) -> str:
        return ",".join(value)


_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")


class Region(Kind[str]):
    def parse(self, value: str) -> str:
        value = value.strip()
        if not _AWS_REGION.match(value):
            raise ValueError(f"must be an AWS region such as eu-central-1, got {value!r}")
        return value

    def describe(self) -> str:
        return "AWS region name"


def _number(value: float) -> str:
    """``1000000`` rather than ``1e+06``, ``0.05`` as it is."""
    return str(int(value)) if value == int(value) else f"{value:g}"


@dataclass(frozen=True)
class Number(Kind[float]):
    """A supervision timing or count: ``minimum..maximum``, or exactly ``off`` (0 = "turned
    off"); ``why`` says what goes wrong outside the range, so the operator learns the reason
    with the refusal. ``whole`` refuses fractions (counts, SQS seconds)."""

    minimum: float
    maximum: float
    why: str
    off: float | None = None
    whole: bool = False

    def parse(self, value: str) -> float:
        try:
            number = float(int(value.strip())) if self.whole else float(value.strip())
        except ValueError:
            raise ValueError(
                "must be a whole number" if self.whole else "must be a number of seconds"
            ) from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number")
        if self.off is not None and number == self.off:
            return number
        if number < 0:
            raise ValueError("must not be negative")
        if not self.minimum <= number <= self.maximum:
            off = f" (or {_number(self.off)} to turn it off)" if self.off is not None else ""
            raise ValueError(
                f"must be between {_number(self.minimum)} and {_number(self.maximum)}{off}: "
                f"{self.why}"
            )
        return number

    def describe(self) -> str:
        text = f"{_number(self.minimum)}\N{EN DASH}{_number(self.maximum)}"
        if self.off is not None:
            text = f"{_number(self.off)}, or {text}"
        return text + (" (whole)" if self.whole else "")

    def show(self, value: float) -> str:
        return _number(value)


_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class S3Bucket(Kind[str | None]):
    """One S3 bucket name in the strict form AWS creates today; empty means "not set"."""

    def parse(self, value: str) -> str | None:
        if not value:
            return None
        if not _S3_BUCKET.fullmatch(value):
            raise ValueError(
                "must be an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)"
            )
        return value

    def describe(self) -> str:
        return "S3 bucket name, or unset"


class S3Prefix(Kind[str]):
    """A key prefix inside a bucket: ``recording-storage/prod``."""

    def parse(self, value: str) -> str:
        if value.startswith("/") or "//" in value:
            raise ValueError(
                "must have no leading or double slash (S3 keys have none); write it as "
                "recording-storage/prod"
            )
        return value

    def describe(self) -> str:
        return "S3 key prefix (no leading or double `/`)"


class RelativeFiles(Kind[tuple[str, ...]]):
    """Space-separated paths below a prefix; a trailing ``?`` marks a file as optional."""

    def parse(self, value: str) -> tuple[str, ...]:
        names = tuple(value.split())
        bad = []
        for name in names:
            path = name.rstrip("?")
            if not path or path.startswith("/") or ".." in path.split("/"):
                bad.append(name)
        if bad:
            raise ValueError(
                "must be relative paths inside the prefix (no leading / and no ..), each with "
                f"an optional trailing ?, got {', '.join(map(repr, bad))}"
            )
        return names

    def describe(self) -> str:
        return "relative paths separated by spaces, `name?` = optional"

    def show(self, value: tuple[str, ...]) -> str:
        return " ".join(value)
