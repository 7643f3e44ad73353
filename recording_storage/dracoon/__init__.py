"""Everything DRACOON: client-side encryption (``crypto``), the API client (``client``) and a
local API emulator (``emulator``) for development and tests.

Import rule: ``crypto`` imports nothing else from this project; ``client`` uses ``crypto``;
``emulator`` may use ``crypto`` (to seed key pairs) but never ``client``.
"""
