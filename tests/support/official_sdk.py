"""DRACOON's official Python SDK (``dracoon`` from PyPI) and DRACOON Commander (``dccmd``, the
CLI built on it), each installed in a virtual environment of its own, so tests can prove
interoperability with them.

Both pin old versions of cryptography and httpx (dccmd also old click/typer), so they must
never share our venv. Tests run small scripts (``run_sdk_script``) or the ``dccmd`` command
as subprocesses; each venv is created once and reused (``.cache/dracoon-sdk-venv``,
``.cache/dccmd-venv``). ``scripts/test.sh`` creates both before pytest starts; a test run
without network or PyPI fails here with a clear message instead of skipping.
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
# DRACOON Commander, DRACOON's own CLI (it pins the SDK above). Its CLI crashes at start with
# current click/typer ("Secondary flag is not valid for non-boolean flag"): hold them back.
DCCMD_REQUIREMENTS = ("dccmd==0.5.0", "click<8.2", "typer<0.10")
DCCMD_VENV = CACHE_DIR / "dccmd-venv"


def _prepared_venv(venv_dir: Path, requirements: tuple[str, ...]) -> Path:
    """Create ``venv_dir`` with ``requirements`` once (under a lock); return its interpreter.

    The marker holds the requirement list, so changing a pin rebuilds the venv.
    """
    python = venv_dir / "bin" / "python"
    marker = venv_dir / ".installed"
    wanted = "\n".join(requirements)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(venv_dir.with_name(venv_dir.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several pytest processes may ask at once
        if not marker.exists() or marker.read_text() != wanted:
            venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
            result = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *requirements],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"could not install {' '.join(requirements)} into {venv_dir}: "
                    f"{result.stderr[-2000:]}"
                )
            marker.write_text(wanted)
    return python


def sdk_python() -> Path:
    """Return the interpreter of the SDK venv, creating the venv on first use."""
    return _prepared_venv(SDK_VENV, (SDK_REQUIREMENT,))


def dccmd_python() -> Path:
    """Return the interpreter of DRACOON Commander's venv (``bin/dccmd`` beside it)."""
    return _prepared_venv(DCCMD_VENV, DCCMD_REQUIREMENTS)


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


if __name__ == "__main__":  # `python -m tests.support.official_sdk` prepares both venvs
    print(sdk_python(), file=sys.stderr)
    print(dccmd_python(), file=sys.stderr)
