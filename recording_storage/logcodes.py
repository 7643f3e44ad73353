"""The service's log codes (15000-15999): 15000-15018 unchanged from the original service.

Operators grep and alert on these numbers, so they are part of the public interface: never
renumber one, never use one for something its original meaning does not cover (15000 is
"Start application", not a stop; 15006 is the transferer's status, not signals), only add new
ones. docs/operations.md has the table; tests/service/test_log_codes.py checks every code
the code base emits against it.
"""

import logging
from enum import IntEnum


class LogCode(IntEnum):
    """A log code and, through :data:`LEVELS`, the level it is logged at."""

    START_APPLICATION = 15000
    START_CLI = 15001
    CONFIG_LOAD_ERROR = 15002
    AMAZON_SESSION_ERROR = 15003
    AMAZON_CONFIG_ERROR = 15004
    SQS_ERROR = 15005
    TRANSFERER_STATUS = 15006
    TRANSFERER_ERROR = 15007
    WORKER_PROFILING = 15008
    AMAZON_TO_DRACOON_ERROR = 15009
    REST_CLIENT_ERROR = 15010
    STORAGE_ERROR = 15011
    STORAGE_STATUS = 15012
    INSTANCE_JOB_RUNNER_ERROR = 15013
    HEALTHCHECK_ERROR = 15014
    WORKER_ERROR = 15015
    GLOBAL_SHARER_ERROR = 15016
    GLOBAL_SHARER_STATUS = 15017
    CONFIGURATION_ERROR = 15018
    # Added (not in the original table): the original had no code for stopping.
    STOP_APPLICATION = 15019


# Level of each code as the original README documents it ("Alert" and "Critical" map to
# CRITICAL, since Python logging has no ALERT level).
LEVELS: dict[LogCode, int] = {
    LogCode.START_APPLICATION: logging.INFO,
    LogCode.START_CLI: logging.INFO,
    LogCode.CONFIG_LOAD_ERROR: logging.CRITICAL,
    LogCode.AMAZON_SESSION_ERROR: logging.CRITICAL,
    LogCode.AMAZON_CONFIG_ERROR: logging.CRITICAL,
    LogCode.SQS_ERROR: logging.ERROR,
    LogCode.TRANSFERER_STATUS: logging.INFO,
    LogCode.TRANSFERER_ERROR: logging.ERROR,
    LogCode.WORKER_PROFILING: logging.INFO,
    LogCode.AMAZON_TO_DRACOON_ERROR: logging.ERROR,
    LogCode.REST_CLIENT_ERROR: logging.ERROR,
    LogCode.STORAGE_ERROR: logging.ERROR,
    LogCode.STORAGE_STATUS: logging.INFO,
    LogCode.INSTANCE_JOB_RUNNER_ERROR: logging.ERROR,
    LogCode.HEALTHCHECK_ERROR: logging.ERROR,
    LogCode.WORKER_ERROR: logging.ERROR,
    LogCode.GLOBAL_SHARER_ERROR: logging.ERROR,
    LogCode.GLOBAL_SHARER_STATUS: logging.INFO,
    LogCode.CONFIGURATION_ERROR: logging.ERROR,
    LogCode.STOP_APPLICATION: logging.INFO,
}


def log_event(logger: logging.Logger, code: LogCode, message: str, /, **fields: object) -> None:
    """Log ``message`` at the level that belongs to ``code``, with ``code`` and ``fields``.

    ``fields`` become structured attributes of the JSON record (job, instance, file, room...).
    Callers must never pass secrets here: the log formatter (``logs.py``) redacts only what
    it recognises as a credential (``recording_storage.redact``), not arbitrary values.
    """
    extra = {"code": int(code), **fields}
    logger.log(LEVELS[code], message, extra=extra)


def log_event_at(
    logger: logging.Logger, level: int, code: LogCode, message: str, /, **fields: object
) -> None:
    """Like :func:`log_event`, at another ``level`` than the code's own: for the details that
    lead up to one failure (WARNING), so each failure has one ERROR (docs/operations.md)."""
    logger.log(level, message, extra={"code": int(code), **fields})
