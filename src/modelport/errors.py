"""Errors that every layer raises, with a transport-neutral code.

Each transport maps :class:`ErrorCode` to its own status in one table
(``rest/errors.py`` for HTTP). Nothing here knows about HTTP or gRPC.

Hierarchy::

    ModelportError
    ├── InvalidInput          INVALID_ARGUMENT   malformed or inconsistent request
    │   └── PayloadTooLarge   PAYLOAD_TOO_LARGE  body or tensor over a configured limit
    ├── UnsupportedMediaType  UNSUPPORTED_MEDIA  a content type we never parse (pickle, multipart)
    ├── ModelNotFound         NOT_FOUND          no such model or version
    ├── ModelNotReady         UNAVAILABLE        model exists but cannot serve now
    │   └── QueueFull         UNAVAILABLE        the model's batching queue is full
    ├── ServerUnreachable     UNAVAILABLE        (client) no server, or another protocol, there
    ├── RequestTimeout        DEADLINE_EXCEEDED  waited in the queue past its timeout
    ├── ManagementDisabled    PERMISSION_DENIED  load/unload asked for outside explicit mode
    ├── Unauthenticated       UNAUTHENTICATED    keys are configured and none (or no valid one) came
    ├── NotPermitted          PERMISSION_DENIED  the key lacks the scope, or the model is not its
    ├── QuotaExceeded         RESOURCE_EXHAUSTED over the caller's request rate or concurrency
    ├── LoadFailed            FAILED_PRECONDITION an explicit load did not produce a ready model
    ├── AlreadyLoaded         ALREADY_EXISTS     a multi-model load of a model already loaded
    ├── Unsupported           UNIMPLEMENTED      a protocol feature we do not offer
    ├── ModelLoadError        INTERNAL           a model failed to load (kept as its reason)
    └── InferenceFailed       INTERNAL           the runtime failed on a valid request
"""

from __future__ import annotations

import enum
import logging

logger = logging.getLogger(__name__)


class ErrorCode(enum.Enum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA = "UNSUPPORTED_MEDIA"
    NOT_FOUND = "NOT_FOUND"
    UNAVAILABLE = "UNAVAILABLE"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    INTERNAL = "INTERNAL"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    ALREADY_EXISTS = "ALREADY_EXISTS"


SHOWN_CHARS = 64
"""The most characters of one client-sent string (a name, a value) an error message echoes."""
MAX_MESSAGE_BYTES = 1024
"""The longest error message in UTF-8: an HTTP body, a gRPC trailer (clients refuse trailers
over 8 KiB, and gRPC percent-encodes each non-ASCII byte as three)."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """A client-sent value as an error message quotes it: a string in quotes, anything else
    as its repr, each ``clipped``."""
    return f"'{clipped(value, limit)}'" if isinstance(value, str) else clipped(repr(value), limit)


def clipped(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` with control characters escaped, cut to ``limit`` characters (its length
    said when it was cut)."""
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def bounded(message: str) -> str:
    """``message`` cut to MAX_MESSAGE_BYTES of UTF-8, on a character boundary."""
    raw = message.encode()
    if len(raw) <= MAX_MESSAGE_BYTES:
        return message
    return raw[: MAX_MESSAGE_BYTES - 3].decode(errors="ignore") + "…"


class ModelportError(Exception):
    """Base of every error modelport raises on purpose; its message is bounded, so no
    client input echoed in it can grow a response or a trailer past what clients take."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        message = bounded(message)
        super().__init__(message)
        self.message = message


class InvalidInput(ModelportError):
    code = ErrorCode.INVALID_ARGUMENT


class PayloadTooLarge(InvalidInput):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class UnsupportedMediaType(ModelportError):
    code = ErrorCode.UNSUPPORTED_MEDIA


class ModelNotFound(ModelportError):
    code = ErrorCode.NOT_FOUND


class ModelNotReady(ModelportError):
    code = ErrorCode.UNAVAILABLE


class QueueFull(ModelNotReady):
    pass


class ServerUnreachable(ModelportError):
    """The client found no server at the address, or one speaking another protocol."""

    code = ErrorCode.UNAVAILABLE


class RequestTimeout(ModelportError):
    code = ErrorCode.DEADLINE_EXCEEDED


class ManagementDisabled(ModelportError):
    code = ErrorCode.PERMISSION_DENIED


class Unauthenticated(ModelportError):
    code = ErrorCode.UNAUTHENTICATED


class NotPermitted(ModelportError):
    code = ErrorCode.PERMISSION_DENIED


class QuotaExceeded(ModelportError):
    code = ErrorCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds until a request would be admitted (HTTP ``Retry-After``)."""


class AlreadyLoaded(ModelportError):
    code = ErrorCode.ALREADY_EXISTS


class LoadFailed(ModelportError):
    code = ErrorCode.FAILED_PRECONDITION


class Unsupported(ModelportError):
    code = ErrorCode.UNIMPLEMENTED


class ModelLoadError(ModelportError):
    code = ErrorCode.INTERNAL


class InferenceFailed(ModelportError):
    code = ErrorCode.INTERNAL


_BY_CODE: dict[ErrorCode, type[ModelportError]] = {
    ErrorCode.INVALID_ARGUMENT: InvalidInput,
    ErrorCode.PAYLOAD_TOO_LARGE: PayloadTooLarge,
    ErrorCode.UNSUPPORTED_MEDIA: UnsupportedMediaType,
    ErrorCode.NOT_FOUND: ModelNotFound,
    ErrorCode.UNAVAILABLE: ModelNotReady,
    ErrorCode.DEADLINE_EXCEEDED: RequestTimeout,
    ErrorCode.PERMISSION_DENIED: ManagementDisabled,
    ErrorCode.FAILED_PRECONDITION: LoadFailed,
    ErrorCode.UNIMPLEMENTED: Unsupported,
    ErrorCode.INTERNAL: InferenceFailed,
    ErrorCode.UNAUTHENTICATED: Unauthenticated,
    ErrorCode.RESOURCE_EXHAUSTED: QuotaExceeded,
    ErrorCode.ALREADY_EXISTS: AlreadyLoaded,
}


INTERNAL_MESSAGE = "internal server error; see the server log"


def as_error(exc: BaseException, serving: str) -> ModelportError:
    """What a client is told of ``exc``: itself when raised on purpose, else a bare INTERNAL
    error, the unexpected one logged here with what was being served (its own text may hold
    paths or data, so it stays in the log)."""
    if isinstance(exc, ModelportError):
        return exc
    logger.error("unexpected error serving %s", serving, exc_info=exc)
    return InferenceFailed(INTERNAL_MESSAGE)


def error_for(code: ErrorCode, message: str) -> ModelportError:
    """The exception for a code a server answered with (the client raises these)."""
    return _BY_CODE.get(code, InferenceFailed)(message)
