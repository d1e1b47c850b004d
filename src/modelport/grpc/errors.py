"""ErrorCode → ``grpc.StatusCode``, from the sans-IO table in ``protocol/status.py``."""

from __future__ import annotations

import grpc

from modelport.errors import ErrorCode
from modelport.protocol.status import GRPC_CODE

_BY_NUMBER = {status.value[0]: status for status in grpc.StatusCode}
GRPC_STATUS: dict[ErrorCode, grpc.StatusCode] = {
    code: _BY_NUMBER[number] for code, number in GRPC_CODE.items()
}
