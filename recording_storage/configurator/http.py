"""Client of the internal HTTP configurator (``configurator.url = https://...``).

API (documented in docs/configuration.md, "Configurator HTTP API"):

* ``GET {url}/instances/{domain}`` -> 200 with the instance's key map (JSON object),
  404 when the domain is unknown.
* ``GET {url}/instances?storage=dracoon`` -> 200 ``{"instances": {domain: key map, ...},
  "next": url-or-null}``; ``next`` (absolute or relative URL) continues a long list.

Optional ``Authorization: Bearer <configurator.token>``. Connection errors, timeouts and 5xx
are retried with backoff (``configurator.retries``) and then raised as
``ConfiguratorUnavailableError``, which a job treats as retryable.

Bounds (``http_guard``): one call, retries included, ends after
``configurator.callDeadlineSeconds`` (or when the current job's deadline comes first), even
when the answer trickles in; an answer is read up to ``MAX_ANSWER_BYTES``; a 200 that is not
a JSON object, nests deeper than 32 levels, or has no ``recordings.*`` key at all is a broken
answer, not a broken configuration: ``ConfiguratorUnavailableError`` (retryable). A listing
stops after ``_MAX_PAGES`` pages, when ``next`` repeats a page, or when the job must stop.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import urllib3

from recording_storage import deadlines, http_guard
from recording_storage.configurator.base import (
    ConfiguratorUnavailableError,
    InstanceConfig,
    InstanceConfigError,
    UnknownInstanceError,
)
from recording_storage.configurator.cache import TtlCache
from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)

_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?")
_MAX_PAGES = 1000
# An instance's key map is a few KiB and a page of the instance list holds a few hundred of
# them; 8 MiB is far above any legitimate answer and still bounds memory.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
DEFAULT_CALL_DEADLINE = 60.0


class HttpConfigurator:
    """Fetches instance configuration over HTTP, with a TTL cache and bounded retries."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        timeout: float = 10.0,
        retries: int = 3,
        cache_ttl: float = 300.0,
        backoff_factor: float = 0.5,
        pool: urllib3.PoolManager | None = None,
        call_deadline: float = DEFAULT_CALL_DEADLINE,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ):
        self.base_url = base_url.rstrip("/")
        self._call_deadline = float(call_deadline)
        self._max_answer_bytes = int(max_answer_bytes)
        self._headers = {"Accept": "application/json", "User-Agent": "recording-storage"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._retry = urllib3.Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff_factor,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        # Certificates are always verified for https; plain http only when configured so.
        self._pool = pool or http_guard.pool_manager(maxsize=4, cert_reqs="CERT_REQUIRED")
        # Serve the last good answer for up to 10 TTLs while the configurator is down.
        self._cache: TtlCache[Any] = TtlCache(cache_ttl, stale_for=10 * cache_ttl)

    def describe(self) -> str:
        return self.base_url

    def get_instance(self, domain: str) -> InstanceConfig:
        """The configuration of ``domain``; UnknownInstanceError on 404."""
        if not _DOMAIN.fullmatch(domain or ""):  # fullmatch: no trailing newline
            raise UnknownInstanceError(domain, "not a valid instance domain")
        config: InstanceConfig = self._cache.get(
            ("instance", domain.lower()),
            lambda: self._fetch_instance(domain),
            may_serve_stale=lambda exc: isinstance(exc, ConfiguratorUnavailableError),
            on_stale=lambda exc: self._log_stale(exc, domain),
        )
        return config

    def list_dracoon_instances(self) -> list[InstanceConfig]:
        """Every instance whose ``recordings.storage`` is dracoon (for the sharer)."""
        configs: list[InstanceConfig] = self._cache.get(
            ("list", "dracoon"),
            self._fetch_dracoon_instances,
            may_serve_stale=lambda exc: isinstance(exc, ConfiguratorUnavailableError),
            on_stale=lambda exc: self._log_stale(exc, None),
        )
        return configs

    def _fetch_instance(self, domain: str) -> InstanceConfig:
        url = f"{self.base_url}/instances/{quote(domain, safe='')}"
        status, body = self._get(url)
        if status == 404:
            raise UnknownInstanceError(domain, f"HTTP 404 from {url}")
        data = self._json_object(url, status, body)
        if not any(str(key).startswith("recordings") for key in data):
            # A proxy's or a broken server's JSON, not an instance's configuration: a
            # configured instance always has recordings.* keys (an unknown one is a 404).
            raise ConfiguratorUnavailableError(
                f"configurator answered GET {url} with a JSON object without any "
                "recordings.* key; the job will be retried"
            )
        return InstanceConfig.from_mapping(domain, data)

    def _fetch_dracoon_instances(self) -> list[InstanceConfig]:
        url: str | None = f"{self.base_url}/instances?storage=dracoon"
        instances: list[InstanceConfig] = []
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            if url is None:
                break
            if url in seen:
                raise ConfiguratorUnavailableError(
                    f"configurator's instance list repeats the page {_short(url)} ('next' "
                    "points back); stopped"
                )
            if seen and (reason := deadlines.stop_reason()) is not None:
                raise ConfiguratorUnavailableError(
                    f"listing the configurator's instances stopped after {len(seen)} page(s): "
                    f"the job is {reason}"
                )
            seen.add(url)
            status, body = self._get(url)
            data = self._json_object(url, status, body)
            listed = data.get("instances")
            if not isinstance(listed, dict):
                raise ConfiguratorUnavailableError(
                    f"configurator answered {url} without an 'instances' object"
                )
            for domain, keys in listed.items():
                try:
                    config = InstanceConfig.from_mapping(str(domain), keys)
                except InstanceConfigError as exc:
                    log_event(log, LogCode.CONFIGURATION_ERROR, str(exc), instance=str(domain))
                    continue
                if config.uses_dracoon:
                    instances.append(config)
            next_url = data.get("next")
            url = urljoin(url, next_url) if isinstance(next_url, str) and next_url else None
            if url is not None and _origin(url) != _origin(self.base_url):
                raise ConfiguratorUnavailableError(
                    f"configurator's next page {_short(url)} is not on {_origin(self.base_url)}; "
                    "the token is only sent to the configured origin"
                )
        if url is not None:
            raise ConfiguratorUnavailableError(
                f"configurator's instance list goes on beyond {_MAX_PAGES} pages; stopped"
            )
        return instances

    def _get(self, url: str) -> tuple[int, bytes]:
        left = deadlines.remaining_seconds()
        if left is not None and left <= 0:
            left = deadlines.CLEANUP_GRACE
        seconds = self._call_deadline if left is None else min(self._call_deadline, left)
        with http_guard.call_deadline(seconds) as watch:
            try:
                response = self._pool.request(
                    "GET",
                    url,
                    headers=self._headers,
                    timeout=self._timeout,
                    retries=self._retry,
                    preload_content=False,
                    # A redirect could lead the bearer token (and the answer's passwords) to
                    # another host or to plain http: never follow one.
                    redirect=False,
                )
                body = http_guard.read_capped(response, self._max_answer_bytes)
            except http_guard.AnswerTooLarge as exc:
                raise ConfiguratorUnavailableError(
                    f"configurator answered GET {url} with HTTP {response.status}, but {exc}; "
                    "the job will be retried"
                ) from None
            except (urllib3.exceptions.HTTPError, OSError, http_guard.CallDeadlineExceeded) as exc:
                if watch.expired:
                    raise ConfiguratorUnavailableError(
                        f"configurator at {self.base_url} did not answer GET {url} within "
                        f"{seconds:.0f}s (configurator.callDeadlineSeconds or the job's "
                        "deadline); the job will be retried"
                    ) from None
                reason = getattr(exc, "reason", None) or exc
                raise ConfiguratorUnavailableError(
                    f"configurator at {self.base_url} did not answer GET {url}: "
                    f"{type(reason).__name__}: {_short(reason)}; the job will be retried"
                ) from None
        if response.status >= 500:
            raise ConfiguratorUnavailableError(
                f"configurator answered GET {url} with HTTP {response.status} after retries; "
                "the job will be retried"
            )
        if response.status in (401, 403):
            raise ConfiguratorUnavailableError(
                f"configurator refused GET {url} with HTTP {response.status}: "
                "check configurator.token"
            )
        if response.status not in (200, 404):
            raise ConfiguratorUnavailableError(
                f"configurator answered GET {url} with unexpected HTTP {response.status}"
            )
        return response.status, body

    @staticmethod
    def _json_object(url: str, status: int, body: bytes) -> dict[str, Any]:
        try:
            data = http_guard.decode_json(body)
        except http_guard.AnswerNotJson as exc:
            raise ConfiguratorUnavailableError(
                f"configurator answered GET {url} (HTTP {status}) with malformed JSON: {exc}"
            ) from None
        if not isinstance(data, dict):
            raise ConfiguratorUnavailableError(
                f"configurator answered GET {url} with JSON that is not an object"
            )
        return data

    def _log_stale(self, exc: Exception, domain: str | None) -> None:
        log_event(
            log,
            LogCode.REST_CLIENT_ERROR,
            f"configurator unavailable, using the last known configuration: {exc}",
            instance=domain,
        )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port or default
    except ValueError:  # a malformed port never matches
        port = -1
    return parts.scheme, (parts.hostname or "").lower(), port


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "..."
