"""The import rules of docs/architecture.md hold: ``lint-imports`` checks the contracts in
.importlinter (inside recording_storage/) and emulator/.importlinter (between the service and
the DRACOON emulator: neither imports the other, but for the emulator's key pair generation),
and every package of recording_storage/ has a place in the layers, so a new package cannot
slip past the rules by not being named in them."""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import PROJECT_ROOT

CONFIG = PROJECT_ROOT / ".importlinter"


def layer_names() -> set[str]:
    """The modules named in the top-level layers contract ("a | b" and "a : b" are siblings)."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    layers = parser["importlinter:contract:layers"]["layers"]
    names: set[str] = set()
    for line in layers.splitlines():
        for part in line.replace("|", ":").split(":"):
            if part.strip():
                names.add(part.strip().strip("()"))  # "(x)": optional, x may be absent
    return names


@pytest.mark.parametrize("config", [".importlinter", "emulator/.importlinter"])
def test_import_contracts_are_kept(config):
    # --no-cache keeps the tree clean. The report names the offending import and the contract
    # it breaks. emulator/.importlinter needs dracoon_emulator installed (pip install -e emulator/).
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), "import-linter is missing: pip install -e '.[test]'"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--config", config],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"an import breaks the rules of docs/architecture.md ({config}):\n"
        + result.stdout[-6000:]
        + result.stderr[-2000:]
    )


def test_every_package_has_a_layer():
    package = PROJECT_ROOT / "recording_storage"
    present = {
        path.stem
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    missing = present - layer_names()
    assert not missing, (
        f"recording_storage.{sorted(missing)} are in no layer of .importlinter: add them "
        "where they belong and describe them in docs/architecture.md"
    )


def test_mypy_checks_the_whole_service_package_strictly():
    parser = configparser.ConfigParser()
    parser.read(PROJECT_ROOT / "mypy.ini")
    files = [name.strip() for name in parser["mypy"]["files"].split(",") if name.strip()]
    assert parser["mypy"].getboolean("strict")
    assert files == ["recording_storage"], (
        "mypy.ini must check the whole service package (docs/architecture.md, Type checking); "
        f"it names {files}"
    )


def wire_modules_without_state() -> list[str]:
    """The emulator's wire modules that call backend operations only (emulator/.importlinter)."""
    parser = configparser.ConfigParser()
    parser.read(PROJECT_ROOT / "emulator" / ".importlinter")
    contract = parser["importlinter:contract:wire-layer-never-touches-state"]
    return [name.strip() for name in contract["source_modules"].splitlines() if name.strip()]


@pytest.mark.parametrize("module", wire_modules_without_state())
def test_the_emulators_wire_layer_reads_no_state(module):
    # import-linter sees imports, not attribute access: `backend.state.nodes` needs no import.
    path = PROJECT_ROOT / "emulator" / Path(*module.split("."))
    sources = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    assert sources and all(source.exists() for source in sources), module
    reads = [
        f"{source.relative_to(PROJECT_ROOT)}:{node.lineno}"
        for source in sources
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "state"
    ]
    assert not reads, f"{module} reads the backend's state directly: {reads}"
