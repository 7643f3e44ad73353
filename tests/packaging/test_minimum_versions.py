"""setup.cfg's lower bounds and constraints/minimum.txt say the same, and the minimum-versions
step of scripts/test.sh runs tests that exist (it proves the bounds by running them)."""

from __future__ import annotations

import configparser
import re

from packaging.requirements import Requirement
from packaging.version import Version

from tests.support.paths import PROJECT_ROOT

CONSTRAINTS = PROJECT_ROOT / "constraints" / "minimum.txt"
STEP = PROJECT_ROOT / "scripts" / "lib" / "minimum_versions.sh"


def install_requires() -> list[Requirement]:
    parser = configparser.ConfigParser()
    parser.read(PROJECT_ROOT / "setup.cfg")
    lines = parser["options"]["install_requires"].strip().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def pins() -> dict[str, str]:
    found = {}
    for line in CONSTRAINTS.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            found[match[1].lower()] = match[2]
    return found


def lower_bound(requirement: Requirement) -> str:
    (bound,) = [s.version for s in requirement.specifier if s.operator == ">="]
    return bound


def test_every_dependency_has_a_lower_bound_pinned_in_the_constraints():
    pinned = pins()
    for requirement in install_requires():
        bound = lower_bound(requirement)
        name = requirement.name.lower()
        assert name in pinned, f"{name} is not in constraints/minimum.txt"
        # 4.4 and 4.4.0 are the same version; the pin must be exactly the bound.
        assert Version(pinned[name]) == Version(bound), f"{name}: {pinned[name]} != {bound}"


def test_botocore_is_pinned_at_the_version_boto3_needs():
    assert pins()["botocore"] == pins()["boto3"]


def test_the_minimum_versions_step_runs_tests_that_exist_and_test_sh_calls_it():
    text = STEP.read_text()
    block = text.split("TESTS=(", 1)[1].split(")", 1)[0]
    paths = block.split()
    assert len(paths) >= 10
    for path in paths:
        assert (PROJECT_ROOT / path).exists(), path
    assert "-c constraints/minimum.txt" in text and "timeout" in text
    assert "scripts/lib/minimum_versions.sh" in (PROJECT_ROOT / "scripts" / "test.sh").read_text()
