"""DRACOON API client on urllib3: OAuth, rooms by path, streaming (encrypted) uploads, file-key
distribution and downloads. Blocking and thread-safe; one ``DracoonClient`` per account and
process. See docs/client.md.
"""

from .client import DracoonClient
from .errors import (
    DownloadError,
    DracoonAnswerError,
    DracoonApiError,
    DracoonAuthError,
    DracoonConnectionError,
    DracoonDeadlineError,
    DracoonError,
    KeyPairError,
    RoomNameError,
    RoomNotFoundError,
    UploadCancelledError,
    UploadCorruptedError,
    UploadError,
    UploadInterruptedError,
)
from .models import FailedKey, KeyDistributionReport, Node, ServerCapabilities
from .names import sanitize_name, validate_name
from .transport import default_retry
from .upload import UploadOptions

__all__ = [
    "DownloadError",
    "DracoonAnswerError",
    "DracoonApiError",
    "DracoonAuthError",
    "DracoonClient",
    "DracoonConnectionError",
    "DracoonDeadlineError",
    "DracoonError",
    "FailedKey",
    "KeyDistributionReport",
    "KeyPairError",
    "Node",
    "RoomNameError",
    "RoomNotFoundError",
    "ServerCapabilities",
    "UploadCancelledError",
    "UploadCorruptedError",
    "UploadError",
    "UploadInterruptedError",
    "UploadOptions",
    "default_retry",
    "sanitize_name",
    "validate_name",
]
