"""The README's Python snippets run as written against the demo model."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.e2e

README = Path(__file__).parents[2] / "README.md"


def python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return next(block for block in blocks if containing in block)


def test_the_client_snippet_runs_against_the_demo(digits_server: RunningServer) -> None:
    code = python_block("from modelport.client import Client")
    code = code.replace("127.0.0.1:8000", digits_server.url)  # the demo, on its test port
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    expected = re.search(r"print\(.*\)\s+# (.*)", code)
    assert expected is not None
    assert printed.getvalue().strip() == expected.group(1).strip()  # what the README shows
