"""Fault injection: latency, 429 with Retry-After, 5xx, dropped connections, and S3 direct
uploads whose completion is accepted but ends in ``error`` (``finish_error``).

Rules come from the seed (``faults:``) and from ``POST /emulator/faults`` at runtime. Each
rule matches a method and a regex on the URL path; ``rate`` is the chance that a matching
request is hit and ``count`` caps how many times the rule fires. The admin API itself is
never faulted, so a test can always clean up.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass

from .errors import ApiError

_RULE_KEYS = {
    "method",
    "path",
    "status",
    "rate",
    "count",
    "retry_after",
    "latency_ms",
    "drop_connection",
    "error_code",
    "finish_error",
}


@dataclass
class FaultRule:
    method: str | None
    path: re.Pattern
    status: int | None
    rate: float
    remaining: int | None
    retry_after: int | None
    latency_ms: int
    drop_connection: bool
    error_code: int | None
    finish_error: bool = False

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "path": self.path.pattern,
            "status": self.status,
            "rate": self.rate,
            "count": self.remaining,
            "retry_after": self.retry_after,
            "latency_ms": self.latency_ms,
            "drop_connection": self.drop_connection,
            "error_code": self.error_code,
            "finish_error": self.finish_error,
        }


@dataclass(frozen=True)
class Fault:
    """What to do to one request: wait, then fail, drop, or carry on.

    ``finish_error``: serve the request normally, but make the S3 upload it completes end in
    ``error`` with this error as ``errorDetails`` (DRACOON failing to assemble the parts).
    """

    latency_seconds: float
    error: ApiError | None
    drop_connection: bool
    finish_error: ApiError | None = None


def parse_rule(spec: object, where: str = "rule") -> FaultRule:
    """Validate one rule; ValueError with a message naming the bad key."""
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be an object")
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    try:
        path = re.compile(str(spec.get("path", ".*")))
    except re.error as exc:
        raise ValueError(f"{where}: path is not a valid regex: {exc}") from None
    method = spec.get("method")
    if method is not None and not isinstance(method, str):
        raise ValueError(f"{where}: method must be a string like 'POST'")
    status = _int(spec, "status", where, 100, 999)
    count = _int(spec, "count", where, 0, None)
    retry_after = _int(spec, "retry_after", where, 0, None)
    latency = _int(spec, "latency_ms", where, 0, 600_000) or 0
    error_code = _int(spec, "error_code", where, None, None)
    rate = spec.get("rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise ValueError(f"{where}: rate must be a number between 0 and 1")
    drop = spec.get("drop_connection", False)
    if not isinstance(drop, bool):
        raise ValueError(f"{where}: drop_connection must be true or false")
    finish_error = spec.get("finish_error", False)
    if not isinstance(finish_error, bool):
        raise ValueError(f"{where}: finish_error must be true or false")
    if status is None and not drop and not latency and not finish_error:
        raise ValueError(
            f"{where}: give at least one of status, drop_connection, latency_ms, finish_error"
        )
    if status == 429 and retry_after is None:
        retry_after = 1
    return FaultRule(
        method.upper() if method else None,
        path,
        status,
        float(rate),
        count,
        retry_after,
        latency,
        drop,
        error_code,
        finish_error,
    )


def _int(spec: dict, key: str, where: str, low: int | None, high: int | None) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {key} must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{where}: {key} is out of range")
    return value


class FaultInjector:
    def __init__(self, rules: list[dict] | None = None, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._rules: list[FaultRule] = []
        if rules:
            self.replace(rules)

    def replace(self, specs: list) -> None:
        parsed = [parse_rule(spec, f"faults[{i}]") for i, spec in enumerate(specs)]
        with self._lock:
            self._rules = parsed

    def add(self, specs: list) -> None:
        parsed = [parse_rule(spec, f"rules[{i}]") for i, spec in enumerate(specs)]
        with self._lock:
            self._rules.extend(parsed)

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def rules(self) -> list[dict]:
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    def check(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if a rule fires."""
        with self._lock:
            for rule in self._rules:
                if rule.method and rule.method != method:
                    continue
                if not rule.path.search(path):
                    continue
                if rule.remaining == 0:
                    continue
                if rule.rate < 1 and self._random.random() >= rule.rate:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                if rule.finish_error:
                    error = _error_for(rule) or ApiError(
                        500, None, "Injected fault", "emulator fault injection"
                    )
                    return Fault(rule.latency_ms / 1000, None, False, finish_error=error)
                return Fault(rule.latency_ms / 1000, _error_for(rule), rule.drop_connection)
        return None


def _error_for(rule: FaultRule) -> ApiError | None:
    if rule.status is None:
        return None
    headers = {}
    if rule.retry_after is not None:
        headers["Retry-After"] = str(rule.retry_after)
    message = "Too many requests" if rule.status == 429 else "Injected fault"
    return ApiError(rule.status, rule.error_code, message, "emulator fault injection", headers)
