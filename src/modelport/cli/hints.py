"""The one line a user sees for a mistake the CLI can name: a missing extra by its install
name, rather than a traceback."""

from __future__ import annotations

import argparse

EXTRAS: dict[str, str] = {
    "PIL": "evaluate",
    "matplotlib": "evaluate",
    "rich": "evaluate",
    "sklearn": "sklearn",
    "skops": "sklearn",
    "scipy": "examples",
    "torch": "torch",
    "tensorflow": "tensorflow",
    "keras": "tensorflow",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "skl2onnx": "convert",
    "onnxmltools": "convert",
    "tf2onnx": "convert",
    "onnxscript": "convert",
    "ray": "ray",
}
"""Top-level module → the extra that installs it."""


def missing_module(exc: ImportError) -> str:
    """``No module named 'PIL'`` → what to install."""
    name = (exc.name or "").partition(".")[0]
    extra = EXTRAS.get(name)
    if extra is None:
        return f"a Python package is missing: {exc}"
    return f"this needs {name}, which is not installed: pip install 'modelport[{extra}]'"


class DefaultsShown(argparse.HelpFormatter):
    """Help that states each option's default, except where there is none (None) or the help
    already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default == argparse.SUPPRESS
        if unset or "default" in text or not text:
            return text
        return f"{text} (default: {default})"
