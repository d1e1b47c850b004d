"""Each ``ErrorCode``'s HTTP status and gRPC status code, in one sans-IO table, and the
reverse lookups a client needs. gRPC codes are their numbers, fixed by the gRPC spec
(``grpc.StatusCode`` is the transport's; ``grpc/errors.py`` maps them)."""

from __future__ import annotations

from modelport.errors import ErrorCode

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA: 415,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.DEADLINE_EXCEEDED: 504,
    ErrorCode.FAILED_PRECONDITION: 400,
    ErrorCode.UNIMPLEMENTED: 501,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.RESOURCE_EXHAUSTED: 429,
    ErrorCode.ALREADY_EXISTS: 409,
}

GRPC_CODE: dict[ErrorCode, int] = {
    ErrorCode.INVALID_ARGUMENT: 3,
    ErrorCode.PAYLOAD_TOO_LARGE: 8,  # RESOURCE_EXHAUSTED
    ErrorCode.UNSUPPORTED_MEDIA: 3,
    ErrorCode.NOT_FOUND: 5,
    ErrorCode.UNAVAILABLE: 14,
    ErrorCode.PERMISSION_DENIED: 7,
    ErrorCode.DEADLINE_EXCEEDED: 4,
    ErrorCode.FAILED_PRECONDITION: 9,
    ErrorCode.UNIMPLEMENTED: 12,
    ErrorCode.INTERNAL: 13,
    ErrorCode.UNAUTHENTICATED: 16,
    ErrorCode.RESOURCE_EXHAUSTED: 8,
    ErrorCode.ALREADY_EXISTS: 6,
}

CODE_OF_HTTP = {status: code for code, status in reversed(HTTP_STATUS.items())}
"""An HTTP status → the ErrorCode it stands for (the first in the table where several share it)."""
CODE_OF_GRPC = {number: code for code, number in reversed(GRPC_CODE.items())}
