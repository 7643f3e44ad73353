"""The contract recorder: every exchange with the emulator, checked against DRACOON's own API
description (``tests/data/dracoon-openapi-4.26.7.reduced.json``, made by
``scripts/reduce_openapi.py``).

Our client and our emulator are tested against each other everywhere; both could be wrong in
the same way. This recorder makes DRACOON's description the referee. The emulator hands it
each exchange (``EmulatorServer(observer=recorder.observe)``, wired in by the
``emulator_factory`` fixture); at the end of the test ``violations()`` checks them with
openapi-core:

- requests our client sent (User-Agent ``recording-storage...``): the operation exists
  (method + path), parameters and body match their schemas;
- every answer of the emulator to a documented operation: the status is one the description
  lists, the body matches its schema, and an error's ``errorCode`` is one the description
  documents for that operation and status (``x-error-codes``, kept by the reducer);
- the emulator answers an undocumented operation only with 404/405.

Out of scope: the emulator's own admin API (``/emulator/*``), its S3 stand-in (presigned
URLs), ``/oauth/*`` (DRACOON's OAuth server is not part of the API v4 description), answers
made by fault rules, and dropped connections. Known deviations of the description itself are
listed, each with its reason, in ``tests/contract/allowlist.yaml``.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml
from dracoon_emulator.observe import Exchange
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.support.paths import PROJECT_ROOT

DESCRIPTION = PROJECT_ROOT / "tests" / "data" / "dracoon-openapi-4.26.7.reduced.json"
ALLOW_LIST = PROJECT_ROOT / "tests" / "contract" / "allowlist.yaml"
API_PREFIX = "/api"  # the description's server URL; its paths start at /v4
OUR_CLIENT = "recording-storage"  # User-Agent prefix of our DRACOON client
_HOST = "http://emulator.invalid"


@dataclass(frozen=True)
class Violation:
    side: str  # "request" or "response"
    kind: str  # short name: unknown-operation, request-body, status, response-body, ...
    method: str
    path: str  # the description's path template when known, else the real path
    status: int
    detail: str

    def __str__(self) -> str:
        status = f" -> {self.status}" if self.side == "response" else ""
        return f"[{self.side}/{self.kind}] {self.method} {self.path}{status}: {self.detail}"


@dataclass(frozen=True)
class AllowEntry:
    method: str
    path: str
    kind: str
    reason: str
    status: int | None = None
    contains: str | None = None

    def covers(self, violation: Violation) -> bool:
        return (
            self.method in ("*", violation.method)
            and _path_pattern(self.path).match(violation.path) is not None
            and self.kind == violation.kind
            and (self.status is None or self.status == violation.status)
            and (self.contains is None or self.contains in violation.detail)
        )


@functools.cache
def _path_pattern(template: str) -> re.Pattern:
    """``/v4/nodes/{node_id}`` matches itself and ``/v4/nodes/7`` (undocumented paths are
    reported as sent)."""
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


def load_allow_list(path: Path = ALLOW_LIST) -> list[AllowEntry]:
    """Read the allow-list; every entry must say which deviation it covers and why."""
    entries = []
    for number, raw in enumerate(yaml.safe_load(path.read_text()) or [], start=1):
        missing = {"method", "path", "kind", "reason"} - set(raw)
        if missing or not str(raw.get("reason", "")).strip():
            raise ValueError(f"{path.name} entry {number}: needs {sorted(missing) or ['reason']}")
        entries.append(
            AllowEntry(
                method=str(raw["method"]).upper() if raw["method"] != "*" else "*",
                path=str(raw["path"]),
                kind=str(raw["kind"]),
                reason=str(raw["reason"]).strip(),
                status=raw.get("status"),
                contains=raw.get("contains"),
            )
        )
    return entries


@functools.cache
def description() -> dict:
    return json.loads(DESCRIPTION.read_text())


@functools.cache
def openapi() -> OpenAPI:
    """The description as openapi-core sees it (validated once per test session)."""
    return OpenAPI.from_dict(description())


@functools.cache
def _openapi_for(template: str) -> OpenAPI:
    """The description narrowed to one path: openapi-core then finds the operation at once
    instead of matching 173 path templates on every exchange (the whole description is
    validated once by ``openapi()``)."""
    narrowed = {**description(), "paths": {template: description()["paths"][template]}}
    return OpenAPI.from_dict(narrowed, config=Config(spec_validator_cls=None))


@functools.cache
def _templates() -> tuple[tuple[re.Pattern, str], ...]:
    """Path regexes for the description's templates, literal paths first (``/nodes/search``
    before ``/nodes/{node_id}``)."""
    compiled = []
    for template in description()["paths"]:
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        compiled.append((template.count("{"), re.compile(f"^{regex}/?$"), template))
    compiled.sort(key=lambda item: (item[0], item[2]))
    return tuple((regex, template) for _, regex, template in compiled)


def template_for(api_path: str) -> str | None:
    """The description's path template that matches ``/v4/...``, or None."""
    for regex, template in _templates():
        if regex.match(api_path):
            return template
    return None


class _Request:
    """An exchange's request in openapi-core's request protocol."""

    def __init__(self, exchange: Exchange) -> None:
        self.host_url = _HOST
        self.path = exchange.path
        self.full_url_pattern = _HOST + exchange.path
        self.method = exchange.method.lower()
        headers = {k: v for k, v in exchange.request_headers.items()}
        self.content_type = (headers.get("content-type") or "").lower()
        self.body = exchange.request_body
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(exchange.query)),
            header=Headers(headers),
            cookie=ImmutableMultiDict(),
        )


class _Response:
    def __init__(self, exchange: Exchange) -> None:
        self.status_code = exchange.status
        self.headers = Headers(exchange.response_headers)
        self.content_type = (exchange.response_content_type or "").lower()
        self.data = exchange.response_body or b""


def _describe(error: Exception) -> str:
    """One line for an openapi-core error, with the (deduplicated) schema errors it wraps."""
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None) or getattr(error, "schema_errors", None)
    if schema_errors:
        parts: list[str] = []
        for item in schema_errors:
            steps = ["*" if isinstance(p, int) else str(p) for p in item.absolute_path]
            text = f"{'/'.join(steps) or '(body)'}: {item.message}"
            if text not in parts:
                parts.append(text)
        return f"{type(error).__name__}: " + "; ".join(sorted(parts))
    text = str(error) or repr(error)
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return f"{type(error).__name__}: {text}"[:400]


def _kind(side: str, error: Exception) -> str:
    name = type(error).__name__
    if "Security" in name:
        return f"{side}-security"
    if "Body" in name or "MediaType" in name or (side == "response" and "Data" in name):
        return f"{side}-body"
    if "Parameter" in name:
        return f"{side}-parameter"
    if "Header" in name:
        return f"{side}-header"
    if name == "ResponseNotFound":
        return "status"
    return f"{side}-{name}"


def check(exchange: Exchange) -> list[Violation]:
    """Every way ``exchange`` breaks DRACOON's description (empty when it conforms)."""
    headers = tuple(
        sorted((k, v) for k, v in exchange.request_headers.items() if k not in _VOLATILE)
    )
    key = (
        exchange.method,
        exchange.path,
        exchange.query,
        headers,
        exchange.request_body,
        exchange.status,
        exchange.response_content_type,
        exchange.response_body,
        exchange.fault_injected,
        exchange.routed,
    )
    found = _RESULTS.get(key)
    if found is None:
        found = tuple(_check_uncached(exchange))
        if len(_RESULTS) < 20_000:
            _RESULTS[key] = found
    return list(found)


# Tests repeat many identical exchanges (logins, listings, status polls): each distinct one is
# checked once per session. Headers that change with every request do not tell them apart.
_VOLATILE = frozenset({"authorization", "host", "content-length", "connection"})
_RESULTS: dict[tuple, tuple[Violation, ...]] = {}


def _check_uncached(exchange: Exchange) -> list[Violation]:
    if (
        exchange.fault_injected
        or exchange.status == 0
        or not exchange.path.startswith(API_PREFIX + "/")
    ):
        return []
    api_path = exchange.path[len(API_PREFIX) :]
    template = template_for(api_path)
    method = exchange.method.upper()
    operation = (description()["paths"].get(template) or {}).get(method.lower())
    ours = exchange.request_headers.get("user-agent", "").startswith(OUR_CLIENT)
    found: list[Violation] = []

    def add(side: str, kind: str, detail: str) -> None:
        where = template or api_path
        found.append(Violation(side, kind, method, where, exchange.status, detail))

    if not exchange.routed and exchange.status in (404, 405):
        # An operation the emulator does not implement (docs/emulator.md lists them): its
        # 404/405 is the emulator's own answer, not an emulated one.
        if ours:
            add("request", "not-emulated", "the emulator does not implement this operation")
        return found
    if operation is None:
        if ours:
            add("request", "unknown-operation", "the description has no such operation")
        if exchange.status not in (404, 405):
            add("response", "unknown-operation", "the emulator serves an undocumented operation")
        return found
    request, response = _Request(exchange), _Response(exchange)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unsupported scheme type": oauth2 is not checked
        if ours:
            if exchange.request_body is None:
                request.body = b""  # file data, not kept: only its media type is checked
                media_type = _unlisted_media_type(operation, request.content_type)
                if media_type:
                    add("request", "request-body", f"MediaTypeNotFound: {media_type}")
            for error in _errors(_openapi_for(template).request_validator.iter_errors, request):
                if exchange.request_body is None and _kind("request", error) == "request-body":
                    continue
                add("request", _kind("request", error), _describe(error))
        for error in _errors(
            _openapi_for(template).response_validator.iter_errors, request, response
        ):
            if exchange.response_body is None and _kind("response", error) == "response-body":
                continue  # a streamed file: status and headers only
            add("response", _kind("response", error), _describe(error))
    code = _error_code(exchange)
    if exchange.status >= 400 and code is not None:
        problem = _undocumented_code(operation, exchange.status, code)
        if problem:
            add("response", "error-code", problem)
    return found


def _undocumented_code(operation: dict, status: int, code: int) -> str | None:
    """Why ``code`` is not a documented answer of ``operation`` with ``status`` (or None).

    Domain codes (-20xxx upload, -40xxx/-41xxx nodes, -70xxx users and keys, -90xxx system)
    must be listed for the operation and status. The input-validation codes (-80xxx) are
    generic: the description's per-operation lists of them are visibly incomplete (GET /nodes
    lists only -80024 though it takes filter, sort and numbers), so one of them passes when the
    description documents it for this status on any operation. A status without any listed
    code cannot be checked (DRACOON then documents only the status).
    """
    listed = (operation["responses"].get(str(status)) or {}).get("x-error-codes")
    if not listed or code in listed:
        return None
    if -80999 <= code <= -80000 and code in _codes_anywhere().get(str(status), ()):
        return None
    return f"errorCode {code} is not one of {listed}"


@functools.cache
def _codes_anywhere() -> dict[str, frozenset[int]]:
    """Every errorCode the description documents, by status, over all operations."""
    codes: dict[str, set[int]] = {}
    for item in description()["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, answer in operation["responses"].items():
                codes.setdefault(status, set()).update(answer.get("x-error-codes") or ())
    return {status: frozenset(found) for status, found in codes.items()}


def _errors(iterate, *args) -> list[Exception]:
    """openapi-core's errors; a crash of the validator itself is reported as one, too."""
    try:
        return list(iterate(*args))
    except Exception as exc:  # shown in the report, never swallowed
        return [exc]


def _unlisted_media_type(operation: dict, content_type: str) -> str | None:
    """The request's media type when the operation's request body does not list it."""
    listed = list(((operation.get("requestBody") or {}).get("content") or {}).keys())
    actual = content_type.split(";")[0].strip() or "(none)"
    for candidate in listed:
        if candidate in ("*/*", actual) or (
            candidate.endswith("/*") and actual.startswith(candidate[:-1])
        ):
            return None
    return f"{actual} (listed: {', '.join(listed) or 'no body'})" if listed else None


def _error_code(exchange: Exchange) -> int | None:
    try:
        body = json.loads(exchange.response_body or b"")
    except ValueError:
        return None
    code = body.get("errorCode") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


class ContractRecorder:
    """Collects the emulator's exchanges (thread-safe, cheap) and checks them on demand."""

    def __init__(self, allow_list: list[AllowEntry] | None = None) -> None:
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []
        self.allow_list = load_allow_list() if allow_list is None else allow_list
        self.allowed: list[tuple[Violation, AllowEntry]] = []
        self.checked = 0  # exchanges checked so far
        self.seconds = 0.0  # time spent checking them

    def observe(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def violations(self) -> list[Violation]:
        """Check everything recorded so far; allow-listed deviations go to ``allowed``."""
        with self._lock:
            exchanges, self.exchanges = self.exchanges, []
        self.checked += len(exchanges)
        started = time.perf_counter()
        unexplained = []
        for exchange in exchanges:
            for violation in check(exchange):
                entry = next((e for e in self.allow_list if e.covers(violation)), None)
                if entry is None:
                    unexplained.append(violation)
                else:
                    self.allowed.append((violation, entry))
        self.seconds += time.perf_counter() - started
        return unexplained


class SessionTally:
    """What the fixtures' recorders checked in this pytest session (for the summary line)."""

    def __init__(self) -> None:
        self.tests = self.exchanges = self.unexplained = 0
        self.seconds = 0.0
        self.allowed: dict[str, int] = {}

    def add(self, recorder: ContractRecorder, unexplained: list[Violation]) -> None:
        self.tests += 1
        self.exchanges += recorder.checked
        self.seconds += recorder.seconds
        self.unexplained += len(unexplained)
        for violation, _ in recorder.allowed:
            key = f"{violation.method} {violation.path} [{violation.kind}]"
            self.allowed[key] = self.allowed.get(key, 0) + 1

    def to_json(self) -> dict:
        """What a pytest-xdist worker hands to the controller (plain data, see ``merge``)."""
        return {
            "tests": self.tests,
            "exchanges": self.exchanges,
            "unexplained": self.unexplained,
            "seconds": self.seconds,
            "allowed": dict(self.allowed),
        }

    def merge(self, data: dict) -> None:
        """Add a worker's tally (``to_json``): with ``pytest -n N`` each worker process checks
        its own tests' exchanges, and the controller's summary line adds them all up."""
        self.tests += data["tests"]
        self.exchanges += data["exchanges"]
        self.unexplained += data["unexplained"]
        self.seconds += data["seconds"]
        for key, count in data["allowed"].items():
            self.allowed[key] = self.allowed.get(key, 0) + count

    def summary(self) -> list[str]:
        lines = [
            f"DRACOON contract: {self.exchanges} emulator exchanges in {self.tests} tests checked "
            f"against {DESCRIPTION.name} in {self.seconds:.1f} s: "
            f"{self.unexplained} unexplained violations, "
            f"{sum(self.allowed.values())} allow-listed ({ALLOW_LIST.name})"
        ]
        lines += [f"  allowed x{n}: {key}" for key, n in sorted(self.allowed.items())]
        return lines


SESSION = SessionTally()


def report(violations: list[Violation], limit: int = 30) -> str:
    """A readable failure message: each distinct violation once, with how often it occurred."""
    counts: dict[str, int] = {}
    for violation in violations:
        counts[str(violation)] = counts.get(str(violation), 0) + 1
    lines = [
        f"{len(violations)} exchange(s) with the DRACOON emulator break DRACOON's API "
        f"description ({DESCRIPTION.name}); fix the emulator or the client, or, if the "
        f"description itself is wrong, add an entry with its reason to {ALLOW_LIST.name}:"
    ]
    for text, count in list(counts.items())[:limit]:
        lines.append(f"  {text}" + (f"  (x{count})" if count > 1 else ""))
    if len(counts) > limit:
        lines.append(f"  ... and {len(counts) - limit} more distinct violations")
    return "\n".join(lines)
