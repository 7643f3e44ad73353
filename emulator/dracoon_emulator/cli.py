"""``dracoon-emulator --addr 127.0.0.1:PORT --seed seed.yaml [--state DIR]``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .seed import SeedError
from .server import EmulatorServer


def _address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:8090")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dracoon-emulator",
        description="Run a local DRACOON API v4 emulator (see docs/emulator.md).",
    )
    parser.add_argument(
        "--addr", type=_address, default=("127.0.0.1", 8090), help="HOST:PORT (port 0 = any)"
    )
    parser.add_argument("--seed", help="seed file (YAML or JSON): settings, users, rooms")
    parser.add_argument("--state", help="directory that keeps state and content across restarts")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        stream=sys.stderr,
    )
    host, port = args.addr
    try:
        server = EmulatorServer(args.seed, host=host, port=port, state_dir=args.state)
    except SeedError as exc:
        print(f"dracoon-emulator: invalid seed: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"dracoon-emulator: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    stopped = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    print(f"listening on {server.base_url}", flush=True)
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
