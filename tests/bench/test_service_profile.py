"""``scripts/bench.sh --profile-service DIR`` (scripts/bench/service_profile): every process
started with the hook, and each child it forks, leaves a readable cProfile of its threads."""

from __future__ import annotations

import os
import pstats
import subprocess
import sys
import textwrap
from pathlib import Path

from scripts.bench.world import ROOT

HOOK = ROOT / "scripts" / "bench" / "service_profile"

PROGRAM = textwrap.dedent(
    """
    import multiprocessing, threading

    def busy_work():
        return sum(i * i for i in range(20000))

    def child():
        worker = threading.Thread(target=busy_work, name="helper")
        worker.start()
        worker.join()
        busy_work()

    if __name__ == "__main__":
        process = multiprocessing.get_context("fork").Process(target=child, name="worker-1")
        process.start()
        process.join()
        busy_work()
    """
)


def run(tmp_path: Path, **env: str) -> None:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    environment = {k: v for k, v in os.environ.items() if k != "RECORDING_STORAGE_BENCH_PROFILE"}
    environment["PYTHONPATH"] = os.pathsep.join((str(HOOK), str(ROOT)))
    environment.update(env)
    subprocess.run([sys.executable, str(script)], env=environment, check=True, timeout=60)


def test_the_parent_and_its_forked_child_write_profiles_of_each_thread(tmp_path):
    out = tmp_path / "profiles"
    out.mkdir()
    run(tmp_path, RECORDING_STORAGE_BENCH_PROFILE=str(out))
    names = sorted(path.name for path in out.iterdir())
    parent = [n for n in names if n.startswith("program.py-") and ".thread-" not in n]
    child = [n for n in names if n.startswith("worker-1-") and ".thread-" not in n]
    assert len(parent) == 1 and len(child) == 1, names
    assert any(n.startswith("worker-1-") and n.endswith("-helper.prof") for n in names), names
    for name in parent + child:
        functions = {key[2] for key in pstats.Stats(str(out / name)).stats}  # type: ignore[attr-defined]
        assert "busy_work" in functions, name


def test_without_the_variable_nothing_is_written(tmp_path):
    run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["program.py"]
