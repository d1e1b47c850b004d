"""modelport: one model server for every client and every framework."""

from modelport.client import Client
from modelport.config import ModelConfig
from modelport.errors import ErrorCode, ModelportError
from modelport.settings import Settings
from modelport.tensor import DATATYPES, DataType, TensorSpec
from modelport.types import (
    InferInput,
    InferOutput,
    InferRequest,
    InferResponse,
    ModelMetadata,
    RequestedOutput,
)
from modelport.version import __version__

__all__ = [
    "DATATYPES",
    "Client",
    "DataType",
    "ErrorCode",
    "InferInput",
    "InferOutput",
    "InferRequest",
    "InferResponse",
    "ModelConfig",
    "ModelMetadata",
    "ModelportError",
    "RequestedOutput",
    "Settings",
    "TensorSpec",
    "__version__",
]
