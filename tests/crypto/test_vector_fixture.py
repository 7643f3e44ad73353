"""The project's crypto vector fixture: where every value came from, and that it still matches
DRACOON's vectors (``../shared/testdata/dracoon-crypto`` in this repository's CI).

Only ``test_fixture_agrees_with_the_vectors_folder`` looks outside the project, and it is the one
test that skips when that folder is absent (a user's clone); every other vector test reads the
fixture alone.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys

import pytest

from tests.support.paths import CRYPTO_VECTOR_FIXTURE, CRYPTO_VECTORS, PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "extract_crypto_vectors.py"
SDK_FOLDERS = {"csharp", "js", "swift", "unit", "java-sdk"}


def _load_script():
    spec = importlib.util.spec_from_file_location("extract_crypto_vectors", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(CRYPTO_VECTOR_FIXTURE.read_text(encoding="utf-8"))


def test_fixture_agrees_with_the_vectors_folder():
    if not CRYPTO_VECTORS.is_dir():
        pytest.skip(f"no vectors folder at {CRYPTO_VECTORS} to compare the fixture with")
    result = _run("--check", "--source", str(CRYPTO_VECTORS))
    assert result.returncode == 0, result.stderr


def test_every_entry_names_its_sdk_file_and_licence(document):
    sources = document["sources"]
    assert set(sources) == SDK_FOLDERS
    assert {source["licence"] for source in sources.values()} == {"Apache-2.0"}
    assert document["licence"] == "Apache-2.0"
    for name, entry in document["vectors"].items():
        source = sources[name.partition("/")[0]]
        assert entry["sdk"] == source["sdk"], name
        assert entry["repository"] == source["repository"], name
        assert entry["file"] == source["path"] + name.partition("/")[2], name
        assert entry["licence"] == "Apache-2.0", name
        assert len(entry["sha256"]) == 64, name
        assert len({"json", "text", "base64"} & set(entry)) == 1, name


def test_text_values_are_the_files_exact_content(document):
    """For text and base64 entries the stored value hashes to the original file's SHA-256."""
    checked = 0
    for name, entry in document["vectors"].items():
        value = entry.get("text", entry.get("base64"))
        if value is not None:
            assert hashlib.sha256(value.encode("utf-8")).hexdigest() == entry["sha256"], name
            checked += 1
    assert checked == 27  # 17 password files + 10 base64 files


def test_fixture_is_in_the_scripts_canonical_form():
    text = CRYPTO_VECTOR_FIXTURE.read_text(encoding="utf-8")
    assert _load_script().render(json.loads(text)) == text


def _mini_vectors(root):
    """A small vectors folder in the real layout: two kinds of files and the README."""
    (root / "unit/data/kp_general").mkdir(parents=True)
    (root / "unit/data/kp_general/pw.txt").write_bytes(b"Qwer1234!")
    (root / "js/files").mkdir(parents=True)
    (root / "js/files/plain_file.b64").write_bytes(b"aGVsbG8=")
    (root / "java-sdk/crypto/file_key").mkdir(parents=True)
    (root / "java-sdk/crypto/file_key/plain_file_key.json").write_bytes(b'{"version": "X"}')
    (root / "README.md").write_text("prose, not a vector")
    return root


def test_script_writes_deterministically_and_check_catches_changes(tmp_path):
    source = _mini_vectors(tmp_path / "vectors")
    output = tmp_path / "fixture.json"
    assert _run("--source", str(source), "--output", str(output)).returncode == 0
    first = output.read_bytes()
    assert _run("--source", str(source), "--output", str(output)).returncode == 0
    assert output.read_bytes() == first
    entries = json.loads(first)["vectors"]
    assert sorted(entries) == [
        "java-sdk/crypto/file_key/plain_file_key.json",
        "js/files/plain_file.b64",
        "unit/data/kp_general/pw.txt",
    ]
    assert entries["unit/data/kp_general/pw.txt"]["file"] == (
        "src/test/resources/unit/data/kp_general/pw.txt"
    )
    assert _run("--check", "--source", str(source), "--output", str(output)).returncode == 0

    (source / "unit/data/kp_general/pw.txt").write_bytes(b"Qwer1234?")
    (source / "js/files/more.b64").write_bytes(b"aGk=")
    stale = _run("--check", "--source", str(source), "--output", str(output))
    assert stale.returncode == 1
    assert "differs: unit/data/kp_general/pw.txt" in stale.stderr
    assert "missing from the fixture: js/files/more.b64" in stale.stderr
    assert output.read_bytes() == first  # --check never writes


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("ruby/data/pw.txt", b"x", "not in a known source folder"),
        ("unit/data/key.pem", b"x", "unknown file type"),
        ("unit/data/broken.json", b'{"a": 1, "a": 2}', "duplicate key"),
        ("unit/files/bad.b64", b"not base64!", "not readable as b64"),
    ],
)
def test_script_refuses_what_it_cannot_carry_over(tmp_path, relative, content, message):
    source = _mini_vectors(tmp_path / "vectors")
    (source / relative).parent.mkdir(parents=True, exist_ok=True)
    (source / relative).write_bytes(content)
    output = tmp_path / "fixture.json"
    result = _run("--source", str(source), "--output", str(output))
    assert result.returncode == 2
    assert message in result.stderr
    assert not output.exists()


def test_check_without_a_vectors_folder_says_where_it_looked(tmp_path):
    result = _run("--check", "--source", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert "no crypto vectors at" in result.stderr and "--source" in result.stderr
