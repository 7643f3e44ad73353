"""scripts/local_world (the stand-ins shared by the demo, the benchmark and the tests) is a
tool around the service: the wheel's package list must never pick it up."""

from __future__ import annotations

from setuptools import find_packages

from tests.support.paths import PROJECT_ROOT


def test_the_wheel_contains_no_scripts():
    packages = find_packages(str(PROJECT_ROOT), exclude=["tests", "tests.*"])
    assert "recording_storage" in packages
    assert not [p for p in packages if p.split(".")[0] in ("scripts", "local_world")], packages


def test_local_world_is_importable_as_the_demo_and_the_bench_import_it():
    from scripts.local_world import aws, dracoon, processes, service

    assert service.write_config and dracoon.read_back and aws.start_moto
    assert processes.PROJECT_ROOT == PROJECT_ROOT
