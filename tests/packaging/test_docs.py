"""The documentation stays true: links resolve, README's layout matches the tree, and the
tables in docs/ list exactly what the code has (keys and defaults, metrics, supervision
options, demo options)."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from pathlib import Path

import pytest

from recording_storage.config import docgen
from recording_storage.config.schema import KEYS
from recording_storage.ops import metrics
from recording_storage.ops.health import CredentialsCollector
from recording_storage.workers.options import SupervisionOptions
from tests.support.paths import PROJECT_ROOT

DOCS = sorted([PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.+?)\s*$", text, re.MULTILINE)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_exists(doc):
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        assert linked.exists(), f"{doc.name}: link to missing {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), (
                f"{doc.name}: no heading for #{anchor} in {linked.name}"
            )


def readme_layout() -> list[str]:
    text = (PROJECT_ROOT / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    paths: list[str] = []
    parents: dict[int, str] = {}
    for line in block.splitlines():
        if not line.strip() or len(line) - len(line.lstrip()) > 8:
            continue  # blank, or the continuation of a description
        indent = len(line) - len(line.lstrip())
        names = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        prefix = parents.get(indent - 2, "") if indent else ""
        for name in names.split(", "):
            paths.append(prefix + name)
            if name.endswith("/"):
                parents[indent] = prefix + name
    return paths


def test_readme_layout_matches_the_tree():
    paths = readme_layout()
    assert "recording_storage/dracoon/crypto/" in paths and "deploy/" in paths
    for path in paths:
        assert (PROJECT_ROOT / path).exists(), f"README layout names {path}, which does not exist"
    top_level = {p.split("/")[0] for p in paths if "/" not in p.rstrip("/")}
    tracked = {
        "recording_storage",
        "conf",
        "tests",
        "scripts",
        "docs",
        "deploy",
        "entrypoint.sh",
        "Dockerfile",
        "docker-compose.yml",
    }
    assert tracked <= {p.rstrip("/") for p in top_level}


def test_readme_links_every_docs_page():
    readme = (PROJECT_ROOT / "README.md").read_text()
    for page in sorted((PROJECT_ROOT / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


def test_readme_demo_options_exist():
    demo = (PROJECT_ROOT / "scripts" / "demo.py").read_text()
    readme = (PROJECT_ROOT / "README.md").read_text()
    for option in re.findall(r"`(--[a-z-]+)", readme.split("## Layout")[0]):
        if option in ("--config", "--message", "--help"):
            continue  # recording-storage's options
        assert f'"{option}"' in demo, option


def test_configuration_table_defaults_match_the_schema():
    doc = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    rows = dict(re.findall(r"^\| `([^`]+)` \| ([^|]*) \|", doc, re.MULTILINE))
    for spec in KEYS:
        documented = rows[spec.key].strip()
        if spec.default:
            assert documented.startswith(f"`{spec.default}`"), (spec.key, documented)
        else:
            assert documented == "empty", (spec.key, documented)
        row = next(r for r in doc.splitlines() if r.startswith(f"| `{spec.key}` |"))
        assert ("**secret**" in row) == spec.secret, spec.key


def test_generated_settings_tables_match_the_declarations():
    differing = docgen.stale(PROJECT_ROOT, write=False)
    assert not differing, (
        f"{', '.join(differing)}: the settings table differs from its declarations in "
        f"recording_storage/config/schema.py; regenerate it with `{docgen.COMMAND}` (in the "
        "project root) and commit the result"
    )


def test_docgen_finds_and_rewrites_a_hand_edited_table(tmp_path):
    for relative, _, _ in docgen.TABLES:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text((PROJECT_ROOT / relative).read_text())
    doc = tmp_path / "docs" / "configuration.md"
    row = "| `s3.chunkSize` | `20MiB`"
    doc.write_text(doc.read_text().replace(row, row.replace("20MiB", "8MiB")))
    assert docgen.main(["--check", "--root", str(tmp_path)]) == 1
    assert docgen.stale(tmp_path, write=False) == ["docs/configuration.md"]
    assert docgen.main(["--root", str(tmp_path)]) == 0
    assert doc.read_text() == (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    assert docgen.main(["--check", "--root", str(tmp_path)]) == 0


def metric_names_in_code() -> set[str]:
    names = set()
    built = metrics._build()
    for field in dataclasses.fields(built):
        metric = getattr(built, field.name)
        suffix = "_total" if metric._type == "counter" else ""
        names.add(metric._name + suffix)
    status = metrics.StatusCollector(lambda: ({"w": (True, 0.0)}, {"p": (True, 0.0)}))
    names.update(family.name for family in status.collect())
    names.update(family.name for family in CredentialsCollector(dict).collect())
    return names


def test_operations_metrics_table_matches_the_code():
    doc = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `(recording_storage_[a-z0-9_]+)` \|", doc, re.MULTILINE))
    assert documented == metric_names_in_code()


def test_operations_supervision_table_lists_every_option():
    doc = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    table = doc.split("## Supervision settings", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for row in re.findall(r"^\| (`[A-Z_]+`(?: / `[A-Z_]+`)*) \|", table, re.MULTILINE):
        names = re.findall(r"`([A-Z_]+)`", row)
        first = names[0]
        documented.add(first)
        for short in names[1:]:
            documented.add(first.rsplit("_", 1)[0] + short if short.startswith("_") else short)
    options = {f.name.upper() for f in dataclasses.fields(SupervisionOptions)}
    assert documented == options
