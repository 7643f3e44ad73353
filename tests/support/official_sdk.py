"""DRACOON's official Python SDK (``dracoon`` from PyPI), installed in a virtual environment
of its own, so tests can prove interoperability with it.

The SDK pins old versions of cryptography and httpx, so it must never share our venv. Tests run
small scripts in that venv as subprocesses (``run_sdk_script``); the venv is created once and
reused (``.cache/dracoon-sdk-venv``). ``scripts/test.sh`` creates it before pytest starts; a
test run without network or PyPI fails here with a clear message instead of skipping.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

from tests.support.paths import CACHE_DIR

SDK_REQUIREMENT = "dracoon==1.13.0"
SDK_VENV = CACHE_DIR / "dracoon-sdk-venv"


def sdk_python() -> Path:
    """Return the interpreter of the SDK venv, creating the venv on first use."""
    python = SDK_VENV / "bin" / "python"
    marker = SDK_VENV / ".installed"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "dracoon-sdk-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several pytest processes may ask at once
        if not marker.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(SDK_VENV)
            result = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", SDK_REQUIREMENT],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"could not install {SDK_REQUIREMENT} into {SDK_VENV}: {result.stderr[-2000:]}"
                )
            marker.write_text(SDK_REQUIREMENT)
    return python


def run_sdk_script(script: str, *, args: dict | None = None, timeout: float = 300) -> dict:
    """Run ``script`` with the official SDK's interpreter and return the JSON it prints last.

    The script gets ``ARGS`` (the ``args`` dict) as a global and must print one JSON object as
    its final line of standard output. A non-zero exit raises with the script's stderr.
    """
    python = sdk_python()
    prelude = "import json, sys\nARGS = json.loads(sys.argv[1])\n"
    code = prelude + textwrap.dedent(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [str(python), "-c", code, json.dumps(args or {})],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"official SDK script failed (exit {result.returncode}):\n"
            f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-5000:]}"
        )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        raise AssertionError(
            f"official SDK script printed nothing; stderr: {result.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


if __name__ == "__main__":  # `python -m tests.support.official_sdk` prepares the venv
    print(sdk_python(), file=sys.stderr)
