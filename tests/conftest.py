"""Shared pytest set-up. Area fixtures live in ``tests/support`` and are registered here."""

import pytest

from tests.support.crypto_vectors import CryptoVectors, load_crypto_vectors
from tests.support.leaks import LeakCheck

pytest_plugins = [
    "tests.support.emulator_fixtures",
    "tests.support.aws_fixtures",
]


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist declares it too; declared here as well so `-p no:xdist` runs still work.
    config.addinivalue_line(
        "markers",
        "xdist_group(name): under scripts/test.sh (--dist loadgroup) one worker runs every test "
        "of the group, e.g. a module whose fixture is expensive to make",
    )
    config.addinivalue_line(
        "markers",
        "allow_leaks(threads=(), handlers=(), reason=...): the test may leave these threads "
        "(parts of names) or handlers (logger names) behind; say why (tests/support/leaks.py)",
    )


@pytest.fixture(autouse=True)
def no_leaked_threads_or_handlers(request: pytest.FixtureRequest):
    """Fails a test that leaves a logging handler or a running thread behind.

    A leftover handler writes later tests' records to a closed stream or a dead capture; a
    leftover thread keeps a socket, a file or a server busy and makes a later test's failure
    depend on the order the tests ran in. Checked after the test's own fixtures are torn down
    (an autouse fixture is set up first, so it is torn down last); threads get a short grace
    to finish. Details and the folders that only warn: tests/support/leaks.py.
    """
    check = LeakCheck.start(request.node)
    yield
    check.finish()


@pytest.fixture(scope="session")
def crypto_vectors() -> CryptoVectors:
    """DRACOON's official crypto test vectors, from the project's fixture (never skipped)."""
    return load_crypto_vectors()
