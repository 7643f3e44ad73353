"""recording-storage: moves meeting recordings from AWS S3 into DRACOON rooms.

Every recording is encrypted on the client side (DRACOON "triple-crypto") before it leaves
this process, so only members of the target room can read it. See README.md for the layout.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("recording-storage")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
