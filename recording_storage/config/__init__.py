"""Service configuration: app.conf (original ``key = value`` style), ``RS_*`` environment
overrides and topics.yml, validated into one immutable :class:`Settings`.

Every setting (app.conf keys and the ``RECORDING_STORAGE_*`` supervision knobs) is declared
once, in ``schema.py``; docs/configuration.md's key table is generated from it (``docgen``).
"""

from recording_storage.config.schema import KEYS, KNOBS, SECRET_KEYS, Setting, env_var_for
from recording_storage.config.settings import REDACTED, ConfigError, Settings, load_settings

__all__ = [
    "KEYS",
    "KNOBS",
    "REDACTED",
    "SECRET_KEYS",
    "ConfigError",
    "Setting",
    "Settings",
    "env_var_for",
    "load_settings",
]
