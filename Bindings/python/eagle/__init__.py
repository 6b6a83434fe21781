"""Python client for eagled, over libeagle.so (ctypes; no compiled extension).

    import eagle
    with eagle.Client() as client:          # $EAGLE_SOCKET or /run/eagled/eagled.sock
        result = client.generate("def fibonacci(n):", max_tokens=64, eagle=True)
        print(result.text, result.stats.mean_accepted)
        for chunk in client.stream("Once upon a time", max_tokens=32):
            print(chunk.text, end="", flush=True)

libeagle.so is looked for in $EAGLE_LIBRARY, next to this package, in the repo's
.build-c/lib, then on the system (see eagle._native.find_library).
"""

from __future__ import annotations

from . import _native
from .client import Client, Stream
from .errors import (
    AlreadyExists,
    Aborted,
    Cancelled,
    ConnectError,
    ConnectionLost,
    DeadlineExceeded,
    EagleError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    InvalidState,
    NotFound,
    OutOfMemory,
    OutOfRange,
    PermissionDenied,
    ProtocolError,
    RequestTooLarge,
    ResourceExhausted,
    Unavailable,
    Unimplemented,
    Unknown,
    error_class,
)
from .types import Chunk, GenerateResult, GenerateStats, Health, ModelInfo, ModelMemory, ModelStats, Stats, StopReason

__version__ = "0.3.0"


def library_version() -> str:
    """Version of the libeagle.so in use ("MAJOR.MINOR.PATCH")."""
    version: bytes = _native.load().eagle_version()
    return version.decode()


def library_path() -> str:
    """Path of the libeagle.so that is (or would be) loaded."""
    return _native.find_library()


__all__ = [
    "Client",
    "Stream",
    "Chunk",
    "GenerateResult",
    "GenerateStats",
    "Health",
    "ModelInfo",
    "ModelMemory",
    "ModelStats",
    "Stats",
    "StopReason",
    "EagleError",
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "ConnectError",
    "ConnectionLost",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "InvalidState",
    "NotFound",
    "OutOfMemory",
    "OutOfRange",
    "PermissionDenied",
    "ProtocolError",
    "RequestTooLarge",
    "ResourceExhausted",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "error_class",
    "library_path",
    "library_version",
]
