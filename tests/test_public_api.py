import modelport


def test_public_names_are_pinned() -> None:
    assert modelport.__all__ == [
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
    for name in modelport.__all__:
        assert hasattr(modelport, name)


def test_importing_modelport_loads_no_runtime() -> None:
    import subprocess
    import sys

    code = "import sys, modelport; print('onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_serve_command_imports_no_converter_or_framework() -> None:
    """A serving process carries only what serving needs (memory: `onnx` alone is 12 MiB)."""
    import subprocess
    import sys

    # (not watchfiles: uvicorn imports it whenever it is installed, as Ray's extra does)
    heavy = ["onnx", "skl2onnx", "sklearn", "torch", "tensorflow", "matplotlib", "ray"]
    code = f"import sys, modelport.cli.serve; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
