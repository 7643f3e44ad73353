"""Fixtures that run the DRACOON emulator for tests (filled in with the emulator)."""
