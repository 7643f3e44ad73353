"""The reduced API description the contract tests read: what it keeps, what it records about
its source, and that ``scripts/reduce_openapi.py`` reproduces it byte for byte."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from tests.support.contract import DESCRIPTION, description, openapi
from tests.support.paths import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "reduce_openapi.py"
sys.path.insert(0, str(SCRIPT.parent))
try:
    import reduce_openapi
finally:
    sys.path.remove(str(SCRIPT.parent))

SOURCE = reduce_openapi.default_source()  # ../shared/reference/ (absent in a user's clone)


def test_records_its_source_version_and_hash():
    origin = description()["x-reduced-from"]
    assert origin["version"] == description()["info"]["version"] == "4.26.7"
    assert origin["file"] == "dracoon-openapi-4.26.7.json"
    assert len(origin["sha256"]) == 64 and int(origin["sha256"], 16) >= 0


def test_is_a_valid_openapi_30_description():
    assert description()["openapi"].startswith("3.0")
    openapi()  # openapi-core validates the whole description when it loads it


def test_keeps_every_operation_and_drops_the_prose():
    paths = description()["paths"]
    operations = [m for item in paths.values() for m in item if m != "parameters"]
    assert len(paths) == 173 and len(operations) == 283
    text = DESCRIPTION.read_text()
    for prose in ('"summary"', '"examples"', '"externalDocs"', '"tags"'):
        assert prose not in text
    # A property may be NAMED like a prose keyword; those stay.
    algorithm = description()["components"]["schemas"]["AlgorithmVersionInfo"]
    assert "description" in algorithm["properties"]


def test_keeps_the_documented_error_codes_of_each_answer():
    copy = description()["paths"]["/v4/nodes/{node_id}/copy_to"]["post"]["responses"]["409"]
    assert -41001 in copy["x-error-codes"]  # from an example written as text, not JSON
    rooms = description()["paths"]["/v4/nodes/rooms"]["post"]["responses"]["400"]
    assert {-40006, -40017} <= set(rooms["x-error-codes"])


def test_keeps_only_schemas_that_are_referenced():
    text = DESCRIPTION.read_text()
    for name in description()["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in text


def test_the_script_reproduces_the_file_byte_for_byte(tmp_path):
    if not SOURCE.is_file():
        pytest.skip(f"the source description is not here ({SOURCE}); only this check needs it")
    assert (
        hashlib.sha256(SOURCE.read_bytes()).hexdigest()
        == (description()["x-reduced-from"]["sha256"])
    ), "the shared description changed: run scripts/reduce_openapi.py and review the diff"
    output = tmp_path / "reduced.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), str(SOURCE), str(output)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert output.read_bytes() == DESCRIPTION.read_bytes()


def test_the_script_says_clearly_when_the_source_is_missing(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "absent.json"), str(tmp_path / "out.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot read the source description" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_rendering_is_deterministic():
    sample = {"b": {"x": {"z": 1, "a": [2, {"d": 1, "c": 2}]}}, "a": 1}
    first = reduce_openapi.render(sample)
    assert first == reduce_openapi.render(json.loads(first))
    assert json.loads(first) == sample
