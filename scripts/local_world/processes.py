"""Child processes of a local world: started in their own session, stopped without leftovers.

A stand-in or the service runs in its own session so that a terminal's Ctrl-C reaches only
the driver (which then stops the service gracefully), and so that stopping it can kill every
process it forked (the service's workers) with one ``killpg``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

PROJECT_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class WorldError(Exception):
    """A stand-in did not come up, or a wait timed out. ``hint`` says where to look."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    what: str,
    hint: str = "",
    interval: float = 0.1,
) -> T:
    """Poll ``predicate`` until it returns something truthy; WorldError naming ``what`` after
    ``timeout`` seconds. The predicate may raise to give up early (a process that died)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WorldError(f"timed out after {timeout:g} s waiting for {what}", hint)
        time.sleep(interval)


def console_script(name: str) -> str:
    """A console script of the running virtual environment (next to its interpreter)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, indented, for an error message."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    | " + line[:300] for line in text[-lines:])


class Process:
    """One child in its own session; stderr (and stdout unless ``stdout`` is given) go to
    ``log``."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        env: dict[str, str],
        stdout: Path | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self.stdout = stdout or log
        with log.open("ab") as err, stdout.open("wb") if stdout else log.open("ab") as out:
            self.popen = subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        """WorldError with the end of the log if the process has exited."""
        if self.popen.poll() is not None:
            raise WorldError(
                f"{self.name} exited with status {self.popen.returncode}",
                f"see {self.log}:\n{tail(self.log)}",
            )

    def wait_for_line(self, prefix: str, timeout: float = 60) -> str:
        """The rest of the first output line that starts with ``prefix`` (``listening on``)."""

        def found() -> str | None:
            for line in self.stdout.read_text(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix) :].strip()
            self.check_alive()
            return None

        return wait_until(found, timeout, f"{self.name} to print {prefix!r}", f"see {self.log}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait, then SIGKILL the whole session; returns the exit status."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # leftovers of its session (workers)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        return self.popen.returncode if self.popen.returncode is not None else -9


class ProcessGroup:
    """Every process a driver started, stopped in reverse order by ``stop_all``.

    Their pids go to ``pid_file`` (if given) so that a shell trap can still kill their
    sessions should the driver itself be killed without a chance to clean up.
    """

    def __init__(self, pid_file: Path | None = None) -> None:
        self.pid_file = pid_file
        self.children: list[Process] = []

    def start(
        self,
        name: str,
        argv: list[str],
        log: Path,
        env: dict[str, str],
        stdout: Path | None = None,
    ) -> Process:
        child = Process(name, argv, log, env, stdout)
        self.children.append(child)
        self._write_pids()
        return child

    def stop(self, child: Process, timeout: float = 30) -> int:
        status = child.stop(timeout)
        if child in self.children:
            self.children.remove(child)
            self._write_pids()
        return status

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            self.stop(child)

    def _write_pids(self) -> None:
        if self.pid_file is not None:
            self.pid_file.write_text("".join(f"{c.pid}\n" for c in self.children))
