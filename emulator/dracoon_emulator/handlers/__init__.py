"""API v4 handlers, one module per endpoint family; each exposes ``register(router)``."""
