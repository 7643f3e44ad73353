"""The service's wheel holds the service only: the DRACOON emulator (emulator/, distribution
dracoon-emulator) is a development tool and must never ship to production with it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from setuptools.config.setupcfg import read_configuration

from tests.support.paths import PROJECT_ROOT


def _copy_sources(destination: Path) -> Path:
    """What a build of the service sees, emulator/ included, outside the checkout (a build
    writes build/ and *.egg-info next to setup.cfg; other tests read the checkout)."""
    source = destination / "src"
    source.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("setup.cfg", "setup.py", "README.md"):
        shutil.copy2(PROJECT_ROOT / name, source / name)
    for name in ("recording_storage", "emulator"):
        shutil.copytree(PROJECT_ROOT / name, source / name, ignore=ignore)
    return source


def test_service_packages_do_not_include_the_emulator(tmp_path):
    source = _copy_sources(tmp_path)
    cwd = Path.cwd()
    os.chdir(source)  # `packages = find:` looks in the working directory
    try:
        options = read_configuration(source / "setup.cfg")["options"]
    finally:
        os.chdir(cwd)
    packages = set(options["packages"])
    assert "recording_storage" in packages and "recording_storage.dracoon.crypto" in packages
    assert not [p for p in packages if "emulator" in p], sorted(packages)
    scripts = options["entry_points"]["console_scripts"]
    assert not [s for s in scripts if "emulator" in s], scripts


@pytest.mark.slow
def test_service_wheel_does_not_contain_the_emulator(tmp_path):
    """The real build: ``pip wheel .`` of the service (pip fetches its build backend, as an
    install does), then its file list."""
    source = _copy_sources(tmp_path)
    out = tmp_path / "wheels"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q"]
    built = subprocess.run(
        [*pip_wheel, "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    (wheel,) = out.glob("recording_storage-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert "recording_storage/cli.py" in names
    assert "recording_storage/dracoon/crypto/key_pairs.py" in names
    assert not [n for n in names if "emulator" in n], [n for n in names if "emulator" in n]
    assert "recording-storage = recording_storage.cli:main" in scripts
    assert "emulator" not in scripts
