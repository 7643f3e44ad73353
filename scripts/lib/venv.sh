# shellcheck shell=bash
# Shared by scripts/test.sh and scripts/demo.sh (source it from the project root): find a
# Python 3.11+, create the project's virtual environment and install the project (and the
# DRACOON emulator, emulator/) into it.
#
#   PYTHON   interpreter used to create the venv (default: python3.11 if present, else python3)
#   VENV     the virtual environment (default: .venv)

VENV=${VENV:-.venv}

# Create $VENV unless it already has a Python.
ensure_venv() {
    if [ -x "$VENV/bin/python" ]; then
        return 0
    fi
    local python=${PYTHON:-}
    if [ -z "$python" ]; then
        if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "error: recording-storage needs Python 3.11 or newer; '$python' is not (set PYTHON=...)" >&2
        return 1
    fi
    echo "==> creating virtual environment $VENV with $("$python" --version 2>&1)"
    "$python" -m venv "$VENV"
}

# pip install -e '.[EXTRAS]' into $VENV (EXTRAS optional, e.g. "test"), and the DRACOON
# emulator (emulator/, a distribution of its own) that tests, demo and bench run.
install_project() {
    local target=.
    if [ -n "${1:-}" ]; then target=".[$1]"; fi
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$target" -e emulator/
}

# True when $VENV already runs this checkout's code and can import the given modules.
project_installed() {
    local modules="recording_storage"
    for module in "$@"; do modules="$modules, $module"; done
    "$VENV/bin/python" - "$PWD" <<PY 2>/dev/null
import sys
from pathlib import Path
import $modules
sys.exit(Path(recording_storage.__file__).resolve().parents[1] != Path(sys.argv[1]).resolve())
PY
}
