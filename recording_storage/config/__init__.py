"""Service configuration: app.conf (original ``key = value`` style), ``RS_*`` environment
overrides and topics.yml, validated into one immutable :class:`Settings`.

Keys, defaults and environment variable names are documented in docs/configuration.md.
"""

from recording_storage.config.schema import KEYS, SECRET_KEYS, KeySpec, env_var_for
from recording_storage.config.settings import REDACTED, ConfigError, Settings, load_settings

__all__ = [
    "KEYS",
    "REDACTED",
    "SECRET_KEYS",
    "ConfigError",
    "KeySpec",
    "Settings",
    "env_var_for",
    "load_settings",
]
