"""Bench only: a cProfile (CPU time, per thread) of every thread of a process and its forks.

``scripts/bench.sh --profile-service DIR`` puts this directory first on the ``PYTHONPATH`` of
scenario 4's service and of its requests-only baseline, and sets
``RECORDING_STORAGE_BENCH_PROFILE=DIR``; Python imports this module at start-up. A process
profiles its threads until it exits (``atexit``); a ``multiprocessing`` child (fork) starts
afresh after the fork and writes its profile when it ends (``multiprocessing.util.Finalize``:
a forked child leaves through ``os._exit``, which skips ``atexit``). Each process writes
``DIR/<process name>-<pid>.prof`` (its threads added up) and one
``.thread-N-<thread name>.prof`` per thread. The timer is ``time.thread_time``: a thread's
waits cost nothing, so the numbers add up to CPU. Without the variable it does nothing."""

from __future__ import annotations

import os

_DIRECTORY = os.environ.get("RECORDING_STORAGE_BENCH_PROFILE")


def _install() -> None:
    import atexit
    import cProfile
    import multiprocessing.util
    import pstats
    import sys
    import threading
    import time

    assert _DIRECTORY is not None
    profiles: list[tuple[str, cProfile.Profile]] = []
    lock = threading.Lock()

    def start_thread(*_: object) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU, not waiting
        with lock:
            profiles.append((threading.current_thread().name, profile))
        profile.enable()  # replaces this hook for the calling thread

    def start() -> None:
        profiles.clear()
        threading.setprofile(start_thread)  # threads started from now on
        start_thread()  # this one

    def write() -> None:
        with lock:
            mine = list(profiles)
        name = multiprocessing.current_process().name
        if name == "MainProcess":
            name = os.path.basename(sys.argv[0] or "python")
        stem = os.path.join(_DIRECTORY, f"{name}-{os.getpid()}")
        merged = None
        for index, (thread, profile) in enumerate(mine):
            # Another thread's profile is read as it stands: disabling it from here would
            # close its open calls with this thread's clock.
            profile.snapshot_stats()
            if not profile.stats:  # type: ignore[attr-defined]
                continue
            stats = pstats.Stats(profile)
            stats.dump_stats(f"{stem}.thread-{index}-{thread}.prof")
            merged = stats if merged is None else merged.add(stats)
        if merged is not None:
            merged.dump_stats(f"{stem}.prof")

    class _Owner:  # register_after_fork keeps a weak reference to its object
        pass

    owner = _Owner()
    sys.modules[__name__].__dict__["_owner"] = owner

    def after_fork(_: object) -> None:
        start()
        multiprocessing.util.Finalize(None, write, exitpriority=100)

    multiprocessing.util.register_after_fork(owner, after_fork)
    atexit.register(write)
    start()


if _DIRECTORY:
    _install()
