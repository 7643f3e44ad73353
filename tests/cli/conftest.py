"""The CLI tests run ``recording_storage.cli.main`` in-process; its ``setup_logging`` must not
outlive the test (tests/support/leaks.py)."""

import pytest

from tests.support.leaks import logging_restored


@pytest.fixture(autouse=True)
def _cli_logging_restored():
    with logging_restored():
        yield
