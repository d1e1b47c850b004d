"""modelport: one model server for every client and every framework."""

from modelport.config import ModelConfig, Settings
from modelport.errors import ErrorCode, ModelportError
from modelport.tensor import DATATYPES, DataType, TensorSpec
from modelport.types import (
    InferInput,
    InferOutput,
    InferRequest,
    InferResponse,
    ModelMetadata,
    RequestedOutput,
)

__version__ = "0.1.0"

__all__ = [
    "DATATYPES",
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
