"""A DRACOON API v4 emulator: a real HTTP server that DRACOON's official SDKs and our own
client talk to unchanged, for local development, CI and tests (docs/emulator.md).

    from dracoon_emulator import EmulatorServer
    with EmulatorServer(seed) as server:
        ...  # server.base_url, server.api_url
"""

from .seed import SeedError
from .server import EmulatorServer

__all__ = ["EmulatorServer", "SeedError"]
