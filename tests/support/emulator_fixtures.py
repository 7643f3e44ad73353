"""Fixtures that run the DRACOON emulator for tests (the emulator: docs/emulator.md).

- ``test_key_pairs`` (session): RSA-4096 key pairs for ``service``, ``alice`` and ``bob``,
  committed pre-generated in ``tests/data/keys/`` (test only) so no session generates keys.
- ``emulator_factory``: ``emulator_factory(seed) -> EmulatorServer`` (started; stopped at teardown).
- ``emulator``: a started server on ``default_seed(test_key_pairs)``.

Every emulator these fixtures start records its exchanges for the contract recorder
(``tests/support/contract.py``): at the end of the test, each request our client sent and
each answer the emulator gave is checked against DRACOON's API description, and the test
fails with a report on any violation that ``tests/contract/allowlist.yaml`` does not explain.
A test that breaks the contract on purpose opts out with ``@pytest.mark.contract_exempt``.
Under pytest-xdist each worker checks its own tests' exchanges; the controller adds up the
workers' tallies for the session's summary line (``pytest_testnodedown``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from dracoon_emulator import EmulatorServer
from dracoon_emulator.model import PERMISSIONS

from tests.support.committed_key_pairs import committed_key_pair
from tests.support.contract import SESSION, ContractRecorder, report

TEST_LOGINS = ("service", "alice", "bob")
KEY_PAIR_VERSION = "RSA-4096"


def login_password(login: str) -> str:
    """The OAuth password of a default-seed user (``service`` -> ``service-pw``)."""
    return f"{login}-pw"


def encryption_password(login: str) -> str:
    return f"{login}-crypto-pw"


@pytest.fixture(scope="session")
def test_key_pairs() -> dict[str, tuple[dict, str]]:
    """``{"alice": (UserKeyPairContainer JSON, encryption password), ...}`` (RSA-4096)."""
    return {login: committed_key_pair(login, KEY_PAIR_VERSION) for login in TEST_LOGINS}


def default_seed(test_key_pairs: dict[str, tuple[dict, str]], s3_direct: bool = False) -> dict:
    """``service`` (ROOM_MANAGER, admin of both rooms), ``alice`` and ``bob`` (read);
    an encrypted room ``Recordings`` and a plain room ``Plain``."""
    users = []
    for login in TEST_LOGINS:
        container, _ = test_key_pairs[login]
        users.append(
            {
                "login": login,
                "password": login_password(login),
                "key_pair": container,
                "roles": ["ROOM_MANAGER"] if login == "service" else [],
            }
        )
    members = [
        {"login": "service", "permissions": list(PERMISSIONS)},
        {"login": "alice", "permissions": ["read"]},
        {"login": "bob", "permissions": ["read"]},
    ]
    return {
        "s3_direct_upload": s3_direct,
        "token_lifetime_seconds": 3600,
        "users": users,
        "rooms": [
            {"path": "Recordings", "encrypted": True, "members": members},
            {"path": "Plain", "encrypted": False, "members": members},
        ],
    }


@pytest.fixture
def contract_recorder(request) -> ContractRecorder | None:
    """The recorder the test's emulators report to (None for ``contract_exempt`` tests)."""
    if request.node.get_closest_marker("contract_exempt") is not None:
        return None
    return ContractRecorder()


@pytest.fixture
def emulator_factory(contract_recorder) -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators on demand: ``emulator_factory(seed, **kwargs)``; all stop at teardown,
    then the exchanges they recorded are checked against DRACOON's API description."""
    servers: list[EmulatorServer] = []

    def start(seed: dict, **kwargs) -> EmulatorServer:
        if contract_recorder is not None:
            kwargs.setdefault("observer", contract_recorder.observe)
        server = EmulatorServer(seed, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()
    if contract_recorder is not None:
        violations = contract_recorder.violations()
        SESSION.add(contract_recorder, violations)
        if violations:
            pytest.fail(report(violations), pytrace=False)


@pytest.fixture
def emulator(emulator_factory, test_key_pairs) -> EmulatorServer:
    """A started emulator on ``default_seed`` (classic uploads)."""
    return emulator_factory(default_seed(test_key_pairs))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand this worker's tally to the controller (``workeroutput``
    travels with the worker's "node down" message). In the controller, or without xdist: an
    unexplained violation fails the run even if its test's failure got lost (a test fails in
    its own teardown when its exchanges break the contract)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_OUTPUT_KEY] = SESSION.to_json()
    elif SESSION.unexplained and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist controller: add up what each worker's recorders checked."""
    tally = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT_KEY)
    if tally is not None:
        SESSION.merge(tally)


_WORKER_OUTPUT_KEY = "dracoon_contract"


def pytest_terminal_summary(terminalreporter) -> None:
    """One line on what the contract recorder checked (and what the allow-list let pass)."""
    if SESSION.tests:
        for line in SESSION.summary():
            terminalreporter.write_line(line)
