"""Every log code the code base emits is in docs/operations.md's table, at its level, with
every module that emits it; 15000-15018 keep the original service's meanings (15000 is
"Start application", 15006 the transferer's status: never a stop, never a signal)."""

from __future__ import annotations

import ast
import logging
import re

from recording_storage.logcodes import LEVELS, LogCode
from tests.support.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "recording_storage"

# The original service's README, "Recording Storage : 15000 - 15999" (its wording).
ORIGINAL = {
    15000: "Start application",
    15001: "Start CLI application",
    15002: "Application (or worker) can not load config for workers",
    15003: "Amazon session error",
    15004: "Amazon configuration error",
    15005: "SQS error",
    15006: "transferer status",
    15007: "transferer error",
    15008: "Worker profiling",
    15009: "AmazonToDracoon error",
    15010: "REST client error",
    15011: "Storage error",
    15012: "Storage status",
    15013: "InstanceJobRunner error",
    15014: "HealthCheck error",
    15015: "Worker error",
    15016: "DracoonGlobalSharer error",
    15017: "DracoonGlobalSharer status",
    15018: "Configuration error",
}
# Modules that name codes without emitting them (the code table, the log set-up).
NOT_EMITTERS = {"logcodes.py", "logs.py"}


def doc_table() -> dict[int, dict[str, object]]:
    doc = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    section = doc.split("### Log codes", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].isdigit():
            rows[int(cells[0])] = {
                "level": cells[1],
                "meaning": cells[2],
                "modules": set(re.findall(r"`([a-z_/]+\.py)`", cells[4])),
            }
    return rows


def emitted() -> dict[int, set[str]]:
    """code -> modules (relative to recording_storage/) that use it."""
    uses: dict[int, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = path.relative_to(PACKAGE).as_posix()
        if module in NOT_EMITTERS:
            continue
        for name in re.findall(r"LogCode\.([A-Z_]+)", path.read_text()):
            uses.setdefault(int(LogCode[name]), set()).add(module)
    return uses


def messages_by_code() -> list[tuple[int, str, str]]:
    """(code, module, the constant text of the message) of every log_event call."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call) and getattr(node.func, "id", "").startswith("log_event")
            ):
                continue
            args = node.args[1:] if node.func.id == "log_event" else node.args[2:]
            if len(args) < 2 or not isinstance(args[0], ast.Attribute):
                continue
            text = " ".join(
                part.value
                for part in ast.walk(args[1])
                if isinstance(part, ast.Constant) and isinstance(part.value, str)
            )
            found.append((int(LogCode[args[0].attr]), path.relative_to(PACKAGE).as_posix(), text))
    return found


def test_the_table_has_every_code_at_its_level_with_its_original_meaning():
    table = doc_table()
    assert set(table) == {int(code) for code in LogCode}
    for code in LogCode:
        row = table[int(code)]
        assert row["level"] == logging.getLevelName(LEVELS[code]), code
        if int(code) in ORIGINAL:
            assert row["meaning"] == ORIGINAL[int(code)], code
        else:
            assert row["meaning"].startswith("*(added)*"), code


def test_every_emitted_code_is_documented_with_every_module_that_emits_it():
    table = doc_table()
    for code, modules in emitted().items():
        assert code in table, f"{code} is emitted by {modules} but not in the table"
        assert table[code]["modules"] == modules, (code, table[code]["modules"], modules)


def test_codes_are_not_used_against_their_meaning():
    uses = messages_by_code()
    assert len(uses) > 50  # the scan sees the calls
    for code, module, text in uses:
        lowered = text.lower()
        if code == LogCode.START_APPLICATION:
            assert "stop" not in lowered and "signal" not in lowered, (module, text)
        if code == LogCode.TRANSFERER_STATUS:
            assert module != "workers/master.py", (module, text)  # the master is no transferer
            assert "received: stopping" not in lowered and "sighup" not in lowered, text
