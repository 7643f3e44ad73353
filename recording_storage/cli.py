"""``recording-storage``: the service's command line.

Commands (each with ``--help``; ``--config PATH`` works before or after the command):

* ``serve``             run the master with its workers (SQS-driven; see docs/operations.md)
* ``transfer --message FILE|-``  run one job without SQS; the exit status tells the outcome
* ``share``             one DracoonGlobalSharer pass over every DRACOON instance
* ``config check``      validate and print the effective configuration, secrets redacted
* ``config keys``       every setting with its default, kind, variable and help
* ``dlq list|replay|purge``  the dead-letter queue (recording_storage.aws.dlq_command)
* ``version``           print the version

Exit statuses: 0 success; 1 failed but retrying may help; 2 usage error; 3 invalid job
message (never retry); 4 failed, needs a configuration or permission fix; 78 invalid
configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recording_storage import __version__
from recording_storage.config import KEYS, KNOBS, ConfigError, Settings, load_settings
from recording_storage.logcodes import LogCode, log_event
from recording_storage.redact import redact

if TYPE_CHECKING:  # imported when a transfer shows progress
    from recording_storage.progress import ProgressDisplay

log = logging.getLogger("recording_storage.cli")

EXIT_OK = 0
EXIT_RETRYABLE = 1
EXIT_INVALID_MESSAGE = 3
EXIT_PERMANENT = 4
EXIT_CONFIG = 78
DEFAULT_CONFIG = "conf/app.conf"
SETTINGS_EPILOG = (
    f"Settings: {len(KEYS)} app.conf keys (each overridable by RS_<KEY>, e.g. "
    f"{KEYS[0].env_var}) and {len(KNOBS)} supervision knobs (RECORDING_STORAGE_<NAME>); "
    "'recording-storage config keys' lists each with its default, range and meaning."
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="recording-storage",
        description="Move meeting recordings from AWS S3 into DRACOON rooms "
        "(client-side encrypted), driven by SQS jobs.",
        epilog="Exit statuses: 0 ok, 1 retryable failure, 2 usage, 3 invalid message, "
        "4 failure needing a fix, 78 invalid configuration. " + SETTINGS_EPILOG,
    )
    _add_common(parser, default=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser(
        "serve", parents=[common], help="run the master process with its workers",
        description="Start the master: FileTransferer workers on the SQS queue, the "
        "DracoonGlobalSharer, /healthcheck and /metrics on http.address.",
    )  # fmt: skip
    serve.set_defaults(handler=cmd_serve)

    transfer = commands.add_parser(
        "transfer", parents=[common], help="run one transfer job without SQS",
        description="Run one job from a message file (or - for standard input), as a "
        "FileTransferer would. Prints a JSON summary; the exit status tells the outcome.",
    )  # fmt: skip
    transfer.add_argument("--message", required=True, metavar="FILE|-",
                          help="job message JSON file, or - to read standard input")  # fmt: skip
    transfer.add_argument("--job-id", help="id used in logs (default: a new UUID)")
    transfer.add_argument(
        "--progress", choices=("auto", "live", "plain", "off"), default="auto",
        help="progress on stderr: a live line on a terminal, plain lines otherwise (auto)",
    )  # fmt: skip
    transfer.set_defaults(handler=cmd_transfer)

    share = commands.add_parser(
        "share", parents=[common], help="one key-sharing pass (DracoonGlobalSharer)",
        description="Give every room reader the file keys they miss, for every instance "
        "that uses DRACOON. Prints a JSON report.",
    )  # fmt: skip
    share.set_defaults(handler=cmd_share)

    config = commands.add_parser(
        "config", parents=[common], help="configuration commands",
        description="Configuration commands.", epilog=SETTINGS_EPILOG,
    )  # fmt: skip
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = config_commands.add_parser(
        "check", parents=[common], help="validate and print the effective configuration",
        description="Load app.conf, RS_* environment overrides and topics.yml, report every "
        "problem, and print each key's effective value (secrets redacted).",
        epilog=SETTINGS_EPILOG,
    )  # fmt: skip
    check.add_argument("--json", action="store_true", help="print JSON instead of key = value")
    check.add_argument("--origins", action="store_true",
                       help="show where each value comes from")  # fmt: skip
    check.set_defaults(handler=cmd_config_check)
    keys = config_commands.add_parser(
        "keys", parents=[common], help="list every setting: default, kind, variable, help",
        description="List every app.conf key and RECORDING_STORAGE_* supervision knob with "
        "its default, what it accepts, its environment variable and what it does "
        "(docs/configuration.md and docs/operations.md have the same, generated).",
    )  # fmt: skip
    keys.add_argument("--json", action="store_true", help="print JSON")
    keys.set_defaults(handler=cmd_config_keys)
    config.set_defaults(handler=lambda args: _help(config))

    from recording_storage.aws import dlq_command

    dlq_command.add_parser(commands, common).set_defaults(handler=cmd_dlq)

    version = commands.add_parser(
        "version", parents=[common], help="print the version",
        description="Print the version of recording-storage.",
    )  # fmt: skip
    version.set_defaults(handler=cmd_version)
    return parser


def _add_common(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help=f"app.conf to read (default: $RS_CONFIG or {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--topics",
        metavar="PATH",
        default=default,
        help="topics.yml (default: pubsub/sqs/topics.yml beside app.conf)",
    )
    parser.add_argument(
        "--log-format", choices=("json", "text"), default=default, help="override logger.format"
    )
    parser.add_argument("--log-level", default=default, help="override logger.level")


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# -- commands ---------------------------------------------------------------------------------


def cmd_version(args: argparse.Namespace) -> int:
    print(f"recording-storage {__version__}")
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    from recording_storage.workers.options import check_environment, effective_knobs

    try:
        settings = _load(args)
    except ConfigError as exc:
        problems, _ = check_environment(os.environ)
        _print(f"configuration is invalid ({len(exc.problems + problems)} problem(s)):", err=True)
        for problem in exc.problems + problems:
            _print(f"  {problem}", err=True)
        return EXIT_CONFIG
    problems, env_warnings = check_environment(os.environ, settings)
    if problems:  # the RECORDING_STORAGE_* variables (workers/options.py)
        _print(f"configuration is invalid ({len(problems)} problem(s)):", err=True)
        for problem in problems:
            _print(f"  {problem}", err=True)
        return EXIT_CONFIG
    for warning in (*settings.warnings, *env_warnings):
        _print(f"warning: {warning}", err=True)
    values = settings.redacted()
    knobs = effective_knobs(settings, os.environ)  # validated above
    if args.json:
        _emit({
            "values": values,
            "topics": settings.topics,
            "queue_url": settings.queue_url,
            "origins": settings.origins if args.origins else None,
            "knobs": {name: value for name, (value, _) in knobs.items()},
            "knob_origins": {name: origin for name, (_, origin) in knobs.items()}
            if args.origins else None,
        })  # fmt: skip
    else:  # fmt: skip
        _print(f"# {settings.conf_path or '(no app.conf)'}")
        for key, value in values.items():
            origin = f"    # {settings.origins[key]}" if args.origins else ""
            _print(f"{key} = {value}{origin}")
        _print(f"# topics: {settings.topics_path or '(none)'}")
        for key, url in settings.topics.items():
            _print(f"#   {key}: {url}")
        _print("# supervision knobs (environment only; recording-storage config keys)")
        for name, (value, where) in knobs.items():
            _print(f"# {name} = {value}" + (f"    # {where}" if args.origins else ""))
    print("configuration OK", file=sys.stderr)
    return EXIT_OK


def cmd_config_keys(args: argparse.Namespace) -> int:
    """Every declared setting (``config.schema``); reads no configuration file."""
    from recording_storage.config import docgen
    from recording_storage.config.schema import ENTRYPOINT

    if args.json:
        _emit([
            {"name": spec.key, "kind": kind,
             "default": spec.default, "default_from": spec.default_from or None,
             "accepts": spec.describe(), "environment": spec.env_var,
             "secret": spec.secret, "help": spec.help}
            for kind, specs in (("key", KEYS), ("knob", KNOBS), ("entrypoint", ENTRYPOINT))
            for spec in specs
        ])  # fmt: skip
    else:
        print(docgen.listing())
    return EXIT_OK


def cmd_transfer(args: argparse.Namespace) -> int:
    settings = _start(args)
    if settings is None:
        return EXIT_CONFIG
    from recording_storage.jobs.runner import InvalidMessageError, JobError, JobRunner

    job_id = args.job_id or f"cli-{uuid.uuid4()}"
    log_event(log, LogCode.START_CLI, f"recording-storage transfer: job {job_id}", job=job_id)
    try:
        body = sys.stdin.buffer.read() if args.message == "-" else Path(args.message).read_bytes()
    except OSError as exc:
        print(f"cannot read message {args.message}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    runner = JobRunner(settings)
    progress = _progress_display(args.progress)
    try:
        result = runner.run(body, job_id=job_id, progress=progress)
    except InvalidMessageError as exc:
        _emit({"job": job_id, "status": "invalid_message", "field": exc.field, "error": str(exc)})
        return EXIT_INVALID_MESSAGE
    except JobError as exc:
        _emit({"job": job_id, "status": "failed", "retryable": exc.retryable, "error": str(exc)})
        return EXIT_RETRYABLE if exc.retryable else EXIT_PERMANENT
    finally:
        if progress is not None:
            progress.finish()
        runner.close()
    _emit({
        "job": job_id,
        "status": "success",
        "files": [asdict(f) for f in result.files],
        "bytes_transferred": result.bytes_transferred,
        "seconds": round(result.seconds, 3),
        "s3_deleted": result.s3_deleted,
    })  # fmt: skip
    return EXIT_OK


def cmd_share(args: argparse.Namespace) -> int:
    settings = _start(args)
    if settings is None:
        return EXIT_CONFIG
    from recording_storage.configurator import ConfiguratorError
    from recording_storage.jobs.sharer import GlobalSharer

    log_event(log, LogCode.START_CLI, "recording-storage share: one sharer pass")
    sharer = GlobalSharer(settings)
    try:
        report = sharer.run_once()
    except ConfiguratorError as exc:
        _emit({"status": "failed", "retryable": exc.retryable, "error": str(exc)})
        return EXIT_RETRYABLE if exc.retryable else EXIT_PERMANENT
    finally:
        sharer.close()
    _emit({"status": "success" if not report.failures else "failed", **asdict(report)})
    return EXIT_OK if not report.failures else EXIT_RETRYABLE


def cmd_dlq(args: argparse.Namespace) -> int:
    settings = _start(args)
    if settings is None:
        return EXIT_CONFIG
    from recording_storage.aws import dlq_command
    from recording_storage.aws.session import make_sqs_client
    from recording_storage.jobs.message import summarize

    return dlq_command.run(args, settings, make_sqs_client(settings), summarize)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _start(args)
    if settings is None:
        return EXIT_CONFIG
    try:
        settings.require_queue_url()
    except ConfigError as exc:
        _config_failed(exc)
        return EXIT_CONFIG
    from recording_storage.workers.master import serve
    from recording_storage.workers.options import (
        OptionsError,
        SupervisionOptions,
        check_environment,
    )

    try:  # the RECORDING_STORAGE_* knobs: refuse to start on what config check refuses
        options = SupervisionOptions.from_settings(settings)
    except OptionsError as exc:
        _config_failed(ConfigError(exc.problems))
        return EXIT_CONFIG
    for warning in check_environment(os.environ, settings)[1]:
        log.warning("configuration: %s", warning)
    _warn_open_buckets(settings)
    return serve(settings, options=options)


# -- helpers ----------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> Settings:
    conf = getattr(args, "config", None) or os.environ.get("RS_CONFIG") or DEFAULT_CONFIG
    return load_settings(conf, topics_path=getattr(args, "topics", None), env=os.environ)


def _start(args: argparse.Namespace) -> Settings | None:
    """Load settings and set up logging; on failure log 15002 and print every problem."""
    from recording_storage.logs import setup_logging

    try:
        settings = _load(args)
    except ConfigError as exc:
        setup_logging(args.log_level or "INFO", args.log_format or "json")
        _config_failed(exc)
        return None
    setup_logging(args.log_level or settings.logger.level,
                  args.log_format or settings.logger.format)  # fmt: skip
    for warning in settings.warnings:
        log.warning("configuration: %s", warning)
    return settings


def _progress_display(mode: str) -> ProgressDisplay | None:
    """The transfer's progress on stderr (stdout carries the JSON summary), or None."""
    if mode == "off":
        return None
    from recording_storage.progress import ProgressDisplay

    display = ProgressDisplay(sys.stderr, live={"auto": None, "live": True, "plain": False}[mode])
    if display.live:
        # Log lines go to the same terminal: clear the live line before each one.
        for handler in logging.getLogger().handlers:
            if getattr(handler, "stream", None) is sys.stderr:
                handler.addFilter(display.logging_filter())
    return display


def _warn_open_buckets(settings: Settings) -> None:
    """Say once, at service start, that any bucket is accepted: a queue writer may then name
    any object the AWS role can read (docs/security.md). Jobs still run; it is a warning."""
    if not settings.s3.allowed_buckets:
        log.warning(
            "configuration: s3.allowedBuckets is empty, so jobs may read any bucket the AWS "
            "credentials can read; set it to the recording buckets (docs/security.md)",
            extra={"key": "s3.allowedBuckets"},
        )


def _config_failed(exc: ConfigError) -> None:
    log_event(log, LogCode.CONFIG_LOAD_ERROR, str(exc), problems=exc.problems)
    print(redact(str(exc)), file=sys.stderr)


def _emit(document: object) -> None:
    """The command's JSON result on stdout, with any credential in it redacted."""
    print(redact(json.dumps(document, default=str, indent=2)))


def _print(text: str, *, err: bool = False) -> None:
    print(redact(text), file=sys.stderr if err else sys.stdout)
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
