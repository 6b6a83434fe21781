"""Exceptions: one class per libeagle error code (EAGLE_E_* in eagle.h).

Server statuses use gRPC's numbering (eagle.proto's Code); libeagle returns them negated.
Local failures (cannot connect, connection lost, protocol error, ...) get classes of their
own, placed under the server class a caller would treat them like.
"""

from __future__ import annotations

from typing import Dict, Type


class EagleError(Exception):
    """Any failure reported by libeagle or the daemon.

    Attributes:
        code: the libeagle error code (negative; see eagle.h).
        message: the server's status message, or libeagle's description.
    """

    code: int = -2

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return "%s(%r, code=%d)" % (type(self).__name__, self.message, self.code)


# ---- server status classes (EAGLE_E_* = -Code) ----


class Cancelled(EagleError):
    code = -1


class Unknown(EagleError):
    code = -2


class InvalidArgument(EagleError, ValueError):
    """Bad request parameters (server INVALID_ARGUMENT, or caught before sending)."""

    code = -3


class DeadlineExceeded(EagleError):
    code = -4


class NotFound(EagleError, LookupError):
    code = -5


class AlreadyExists(EagleError):
    code = -6


class PermissionDenied(EagleError):
    code = -7


class ResourceExhausted(EagleError):
    """The daemon is at capacity (queue full): retry later."""

    code = -8


class FailedPrecondition(EagleError):
    code = -9


class Aborted(EagleError):
    code = -10


class OutOfRange(EagleError):
    code = -11


class Unimplemented(EagleError):
    code = -12


class Internal(EagleError):
    code = -13


class Unavailable(EagleError):
    """The daemon cannot serve now (shutting down, unreachable, connection lost)."""

    code = -14


# ---- local errors ----


class ConnectError(Unavailable):
    """Cannot connect to the daemon's socket."""

    code = -100


class ConnectionLost(Unavailable):
    """The connection broke or was closed (EAGLE_E_IO, EAGLE_E_CLOSED)."""

    code = -102


class ProtocolError(EagleError):
    """The peer sent something that is not the eagled protocol."""

    code = -103


class OutOfMemory(EagleError, MemoryError):
    code = -104


class RequestTooLarge(InvalidArgument):
    """The request exceeds the daemon's frame limit."""

    code = -106


class InvalidState(EagleError):
    """A call that is not valid in the object's state (e.g. a closed client)."""

    code = -107


# The code → class table comes from the classes' own `code` (one place per code), plus the
# two codes that share a class with another: EAGLE_E_IO (-101) is a lost connection like
# EAGLE_E_CLOSED, and EAGLE_E_INVAL (-105, a bad argument caught by libeagle or this
# binding before anything is sent) is an InvalidArgument like the server's -3.
E_CANCELLED = Cancelled.code
E_IO = -101
E_INVAL = -105

_BY_CODE: Dict[int, Type[EagleError]] = {
    cls.code: cls
    for cls in (
        Cancelled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists,
        PermissionDenied, ResourceExhausted, FailedPrecondition, Aborted, OutOfRange,
        Unimplemented, Internal, Unavailable, ConnectError, ConnectionLost, ProtocolError,
        OutOfMemory, RequestTooLarge, InvalidState,
    )
}
_BY_CODE[E_IO] = ConnectionLost
_BY_CODE[E_INVAL] = InvalidArgument


def error_class(code: int) -> Type[EagleError]:
    """The exception class for a libeagle error code (EagleError for unknown codes)."""
    return _BY_CODE.get(code, EagleError)


def make_error(code: int, message: str) -> EagleError:
    """An exception for `code` carrying `message`, with `.code` set to exactly `code`."""
    return error_class(code)(message, code)
