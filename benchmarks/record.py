"""Where a benchmark records its results: ``results/<date>-<name>.md``, dated today."""

from __future__ import annotations

import datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def today() -> str:
    return datetime.date.today().isoformat()


def save(name: str, lines: list[str]) -> Path:
    """Write ``lines`` to ``results/<today>-<name>.md``, and say where."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{today()}-{name}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")
    return path
