"""The process model's timing knobs (heartbeats, grace periods, SQS visibility, probes) as
one typed object, :class:`SupervisionOptions`.

Each knob is declared once in ``recording_storage.config.schema.KNOBS`` (kind, bounds with
the reason for them, default, help, its ``RECORDING_STORAGE_<NAME>`` variable); this module
only gives them attribute types, applies the app.conf keys that four of them default to
(``sqs.waitTimeSeconds``, ``sqs.visibilityTimeoutSeconds``, ``workers.shutdownGraceSeconds``,
``workers.progressTimeoutSeconds``) and checks the combinations that no single knob can.
Operators rarely need them, tests need short ones. docs/operations.md lists them (generated).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from recording_storage.config import Settings
from recording_storage.config.kinds import Number
from recording_storage.config.schema import ENTRYPOINT, KNOB_ENV_PREFIX, KNOBS, KNOBS_BY_NAME

ENV_PREFIX = KNOB_ENV_PREFIX


class OptionsError(ValueError):
    """One or more ``RECORDING_STORAGE_*`` values are unusable; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid environment:\n  " + "\n  ".join(self.problems))


# entrypoint.sh's variables: the shell script reads them, `config check` validates them here.
ENTRYPOINT_ENV = frozenset(variable.env_var for variable in ENTRYPOINT)
_WHOLE = {knob.key: knob.kind.whole for knob in KNOBS if isinstance(knob.kind, Number)}


def env_name(field_name: str) -> str:
    """The variable of knob ``field_name``: ``tick`` -> ``RECORDING_STORAGE_TICK``."""
    return KNOBS_BY_NAME[field_name].env_var


def _seconds(name: str) -> float:
    return KNOBS_BY_NAME[name].default_value


def _count(name: str) -> int:
    return int(KNOBS_BY_NAME[name].default_value)


@dataclass(frozen=True)
class SupervisionOptions:
    """One attribute per knob of ``config.schema.KNOBS``, with its declared default; what each
    means, its bounds and its variable are in that declaration (and docs/operations.md).
    ``int`` attributes are the knobs declared ``whole``."""

    heartbeat_interval: float = _seconds("heartbeat_interval")
    heartbeat_timeout: float = _seconds("heartbeat_timeout")
    progress_timeout: float = _seconds("progress_timeout")
    stack_dump_wait: float = _seconds("stack_dump_wait")
    graceful_timeout: float = _seconds("graceful_timeout")
    cancel_timeout: float = _seconds("cancel_timeout")
    restart_backoff_initial: float = _seconds("restart_backoff_initial")
    restart_backoff_max: float = _seconds("restart_backoff_max")
    stable_after: float = _seconds("stable_after")
    sqs_wait_seconds: int = _count("sqs_wait_seconds")
    sqs_visibility_seconds: int = _count("sqs_visibility_seconds")
    retry_delay_seconds: int = _count("retry_delay_seconds")
    retry_delay_max_seconds: int = _count("retry_delay_max_seconds")
    sharer_delay_seconds: float = _seconds("sharer_delay_seconds")
    probe_interval: float = _seconds("probe_interval")
    probe_timeout: float = _seconds("probe_timeout")
    probe_max_age: float = _seconds("probe_max_age")
    tick: float = _seconds("tick")
    progress_interval: float = _seconds("progress_interval")
    max_jobs: int = _count("max_jobs")
    max_jobs_jitter: int = _count("max_jobs_jitter")
    circuit_failures: int = _count("circuit_failures")
    circuit_probe_interval: float = _seconds("circuit_probe_interval")
    circuit_hold_seconds: int = _count("circuit_hold_seconds")
    circuit_max_held: int = _count("circuit_max_held")
    credentials_interval: float = _seconds("credentials_interval")

    @classmethod
    def from_settings(
        cls, settings: Settings | None, env: Mapping[str, str] | None = None
    ) -> SupervisionOptions:
        """Defaults, then the app.conf keys that knobs default to (``default_from``), then the
        ``RECORDING_STORAGE_<NAME>`` variables.

        Raises :class:`OptionsError` naming every unusable variable (and combination)."""
        from_keys: dict[str, float] = {}
        if settings is not None:
            for knob in KNOBS:
                if knob.default_from:
                    from_keys[knob.key] = settings.values[knob.default_from]
        return cls()._with(from_keys).with_env(env)

    def with_env(self, env: Mapping[str, str] | None = None) -> SupervisionOptions:
        """These options, overridden by ``RECORDING_STORAGE_<NAME>`` variables, validated."""
        env = os.environ if env is None else env
        changes: dict[str, float] = {}
        problems: list[str] = []
        for knob in KNOBS:
            raw = env.get(knob.env_var)
            if raw is None or raw.strip() == "":
                continue
            try:
                changes[knob.key] = knob.parse(raw)
            except ValueError as exc:
                problems.append(f"{knob.env_var}={raw!r}: {exc}")
        options = self._with(changes)
        problems.extend(options.combination_problems())
        if problems:
            raise OptionsError(problems)
        return options

    def _with(self, changes: Mapping[str, float]) -> SupervisionOptions:
        """A copy with ``changes``, each converted to its attribute's type (int or float)."""
        typed: dict[str, Any] = {}
        for name, value in changes.items():
            typed[name] = int(value) if _WHOLE[name] else float(value)
        return replace(self, **typed)

    def combination_problems(self) -> list[str]:
        """Values that are fine alone but break each other (named by their variables)."""
        problems: list[str] = []

        def rule(ok: bool, first: str, second: str, what: str) -> None:
            if not ok:
                problems.append(
                    f"{env_name(first)}={getattr(self, first):g} and "
                    f"{env_name(second)}={getattr(self, second):g}: {what}"
                )

        rule(
            self.heartbeat_timeout > self.heartbeat_interval,
            "heartbeat_timeout",
            "heartbeat_interval",
            "the timeout must be longer than the heartbeat interval, or healthy workers are killed",
        )
        rule(
            self.progress_timeout == 0 or self.progress_timeout > self.heartbeat_interval,
            "progress_timeout",
            "heartbeat_interval",
            "progress is reported with the heartbeats; the timeout must be longer",
        )
        rule(
            self.restart_backoff_max >= self.restart_backoff_initial,
            "restart_backoff_max",
            "restart_backoff_initial",
            "the longest delay must not be below the first",
        )
        rule(
            self.retry_delay_max_seconds >= self.retry_delay_seconds,
            "retry_delay_max_seconds",
            "retry_delay_seconds",
            "the longest delay must not be below the first",
        )
        rule(
            self.probe_max_age > self.probe_interval + self.probe_timeout,
            "probe_max_age",
            "probe_interval",
            "results would expire before the next round arrives (probe_max_age must exceed "
            "probe_interval + probe_timeout)",
        )
        return problems


def effective_knobs(
    settings: Settings | None, env: Mapping[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """Each knob's variable -> (its effective value as text, where that value comes from), in
    declaration order, for ``config check``. Raises :class:`OptionsError` as ``from_settings``.
    """
    env = os.environ if env is None else env
    options = SupervisionOptions.from_settings(settings, env)
    out: dict[str, tuple[str, str]] = {}
    for knob in KNOBS:
        raw = env.get(knob.env_var)
        if raw is not None and raw.strip():
            origin = f"environment {knob.env_var}"
        elif knob.default_from and settings is not None:
            origin = f"{knob.default_from} ({settings.origins[knob.default_from]})"
        else:
            origin = "default"
        out[knob.env_var] = (knob.kind.show(float(getattr(options, knob.key))), origin)
    return out


def check_environment(
    env: Mapping[str, str] | None = None, settings: Settings | None = None
) -> tuple[list[str], list[str]]:
    """``(problems, warnings)`` for every ``RECORDING_STORAGE_*`` variable in ``env``.

    Covers the supervision knobs (each alone, and in combination on top of the defaults or of
    ``settings``' keys) and entrypoint.sh's ``RECORDING_STORAGE_CONFIG_*`` (both declared in
    ``config.schema``); a variable that matches nothing is a warning (a typo would otherwise
    be ignored silently). Used by ``config check``; ``serve``
    refuses to start on the same problems.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    warnings: list[str] = []
    try:
        SupervisionOptions.from_settings(settings, env)
    except OptionsError as error:
        problems.extend(error.problems)
    known = {knob.env_var for knob in KNOBS} | ENTRYPOINT_ENV
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known:
            warnings.append(f"environment variable {name} matches no option and is ignored")
    for variable in ENTRYPOINT:
        raw = env.get(variable.env_var)
        if raw is None:
            continue
        try:
            variable.parse(raw)
        except ValueError as exc:
            problems.append(f"{variable.env_var}={raw!r}: {exc}")
    return problems, warnings
