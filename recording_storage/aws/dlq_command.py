"""``recording-storage dlq list|replay|purge``: the argument parser and the three commands.

Kept out of cli.py so the command line stays a table of contents; cli.py loads the settings
(for the queue URL and the AWS endpoint) and hands them to :func:`run`. Every command prints
one JSON document on stdout; errors go to stderr with what to do.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from recording_storage.aws.dlq import (
    DEFAULT_HOLD_SECONDS,
    DEFAULT_LIMIT,
    DeadLetterError,
    DeadLetterQueue,
    JobDecoder,
)

EXIT_OK = 0
EXIT_RETRYABLE = 1
EXIT_USAGE = 2
EXIT_NEEDS_FIX = 4


def add_parser(commands: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``dlq`` with its sub-commands to the CLI's sub-parsers."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--queue-url", help="main queue (default: the configured topic's URL)")
    where.add_argument(
        "--dlq-url", help="dead-letter queue (default: from the main queue's RedrivePolicy)"
    )
    where.add_argument(
        "--hold-seconds",
        type=_positive,
        default=DEFAULT_HOLD_SECONDS,
        help="visibility timeout while messages are held by this command "
        f"(default {DEFAULT_HOLD_SECONDS})",
    )
    dlq: argparse.ArgumentParser = commands.add_parser(
        "dlq",
        parents=[common],
        help="list, replay or purge the dead-letter queue",
        description="Dead-letter queue of the job queue (docs/operations.md, 'Dead letters').",
    )
    sub = dlq.add_subparsers(title="dlq commands", metavar="COMMAND")

    listing = sub.add_parser(
        "list",
        parents=[common, where],
        help="print the dead-lettered jobs",
        description="Print every DLQ message: decoded job, receive count, last error where "
        "known. Listing receives the messages (each receive counts) and releases them at once.",
    )
    listing.add_argument(
        "--limit",
        type=_positive,
        default=DEFAULT_LIMIT,
        help=f"at most this many messages (default {DEFAULT_LIMIT})",
    )
    listing.add_argument("--body", action="store_true", help="also print each raw body")
    listing.set_defaults(dlq_action=_list)

    replay = sub.add_parser(
        "replay",
        parents=[common, where],
        help="send jobs back to the main queue",
        description="Send dead-lettered jobs back to the main queue (a copy is sent, then the "
        "original deleted from the DLQ).",
    )
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "message_ids",
        nargs="*",
        default=[],
        metavar="MESSAGE_ID",
        help="the DLQ message ids to replay (from dlq list)",
    )
    which.add_argument("--all", action="store_true", help="replay every message")
    replay.add_argument(
        "--dry-run", action="store_true", help="show what would be replayed, change nothing"
    )
    replay.add_argument(
        "--limit",
        type=_positive,
        default=DEFAULT_LIMIT,
        help=f"with --all: at most this many (default {DEFAULT_LIMIT})",
    )
    replay.set_defaults(dlq_action=_replay)

    purge = sub.add_parser(
        "purge",
        parents=[common, where],
        help="delete every message of the DLQ",
        description="Delete every message of the DLQ (SQS PurgeQueue). Needs --yes, or the "
        "DLQ's name typed at the prompt on a terminal.",
    )
    purge.add_argument("--yes", action="store_true", help="confirm: delete them all")
    purge.set_defaults(dlq_action=_purge)
    dlq.set_defaults(dlq_action=None, dlq_parser=dlq)
    return dlq


def run(args: argparse.Namespace, settings: Any, client: Any, decode: JobDecoder) -> int:
    """Run the chosen ``dlq`` sub-command; returns the exit status. ``decode`` turns a body
    into the job ``dlq list`` shows (the CLI passes ``jobs.message.summarize``)."""
    if args.dlq_action is None:
        args.dlq_parser.print_help(sys.stderr)
        return EXIT_USAGE
    queue_url = args.queue_url or settings.queue_url
    if not queue_url:
        print(
            "no main queue: set workers.FileTransferer.queue and topics.yml, or pass --queue-url",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        dlq = DeadLetterQueue.discover(
            client, queue_url, args.dlq_url, hold_seconds=args.hold_seconds
        )
        action: Callable[..., int] = args.dlq_action
        if action is _list:  # the one sub-command that shows jobs decoded
            return _list(args, dlq, decode)
        return action(args, dlq)
    except DeadLetterError as error:
        print(f"dlq: {error}", file=sys.stderr)
        return EXIT_RETRYABLE if error.retryable else EXIT_NEEDS_FIX


def _list(args: argparse.Namespace, dlq: DeadLetterQueue, decode: JobDecoder) -> int:
    counts = dlq.approximate_counts()
    letters = dlq.hold(args.limit)
    try:
        messages = [letter.describe(decode, with_body=args.body) for letter in letters]
    finally:
        not_released = dlq.release(letters)
    _emit(
        {
            "queue_url": dlq.queue_url,
            "dlq_url": dlq.dlq_url,
            "approximate_count": counts,
            "listed": len(messages),
            "messages": messages,
            "not_released": not_released,
        }
    )
    return EXIT_OK


def _replay(args: argparse.Namespace, dlq: DeadLetterQueue) -> int:
    letters = dlq.hold(args.limit if args.all else DEFAULT_LIMIT)
    wanted = set(args.message_ids)
    chosen = [x for x in letters if args.all or x.message_id in wanted]
    missing = sorted(wanted - {x.message_id for x in chosen})
    not_released = dlq.release([x for x in letters if x not in chosen])
    if args.dry_run:
        not_released += dlq.release(chosen)
        results = [{"message_id": x.message_id, "outcome": "would_replay"} for x in chosen]
    else:
        results = [dlq.replay(letter) for letter in chosen]
    replayed = sum(1 for r in results if r["outcome"] == "replayed")
    _emit(
        {
            "queue_url": dlq.queue_url,
            "dlq_url": dlq.dlq_url,
            "dry_run": args.dry_run,
            "replayed": replayed,
            "results": results,
            "not_found": missing,
            "not_released": not_released,
        }
    )
    if missing:
        print(
            f"dlq: not in the dead-letter queue (or held by another reader): {', '.join(missing)}",
            file=sys.stderr,
        )
        return EXIT_NEEDS_FIX
    if any(r["outcome"] not in ("replayed", "would_replay") for r in results):
        return EXIT_RETRYABLE
    return EXIT_OK


def _purge(args: argparse.Namespace, dlq: DeadLetterQueue, stdin: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    name = dlq.dlq_url.rstrip("/").rsplit("/", 1)[-1]
    counts = dlq.approximate_counts()
    if not args.yes:
        if not stdin.isatty():
            print(
                f"dlq purge: refusing to delete about {counts['visible']} message(s) of "
                f"{dlq.dlq_url} without confirmation: pass --yes",
                file=sys.stderr,
            )
            return EXIT_USAGE
        print(
            f"This deletes about {counts['visible'] + counts['in_flight']} message(s) of "
            f"{dlq.dlq_url} for ever. Type the queue name ({name}) to confirm: ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        if stdin.readline().strip() != name:
            print("dlq purge: not confirmed; nothing deleted", file=sys.stderr)
            return EXIT_USAGE
    dlq.purge()
    _emit({"dlq_url": dlq.dlq_url, "purged": True, "approximate_count_before": counts})
    return EXIT_OK


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _emit(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2, default=str))
    sys.stdout.flush()
