"""Fixtures that run AWS stand-ins (moto server) for tests over the real wire protocol."""
