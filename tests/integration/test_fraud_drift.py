"""The drift worked example end to end: the fraud detector serves while its traffic shifts;
the request log it wrote, scored per window, shows PSI rising past the 0.25 line and ROC AUC
falling, and /metrics showed the same live. Its log stays out of the repository scan."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from modelport.cli import main
from modelport.repository.layout import scan

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not any(importlib.util.find_spec(m) for m in ("xgboost", "lightgbm")),
        reason="the fraud example needs xgboost or lightgbm",
    ),
]


def test_drift_rises_and_roc_auc_falls_as_the_traffic_shifts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelport.examples.fraud_drift import build

    repository = tmp_path / "models"
    result = build(repository, phases=5, window_s=1.0, rows=3000)
    windows = result["windows"]
    assert len(windows) == 5 and result["shifts"] == [0.0, 0.0, 0.0, 0.5, 1.0]
    first, last = windows[0], windows[-1]
    assert first["drift"]["input"]["psi"] < 0.1 < 0.25 < last["drift"]["input"]["psi"]
    assert last["roc_auc"] < first["roc_auc"] - 0.1
    assert result["live"][-1]["psi"] > 0.25 > result["live"][0]["psi"]  # /metrics, live
    assert "live_roc_auc" in result["live"][-1]
    report = Path(result["also"])
    assert json.loads((report / "report.json").read_text())["windows"] == windows
    assert (report / "windows.png").stat().st_size > 10_000
    assert [s.name for s in scan(repository)] == ["fraud-monitored"]  # .logs is skipped
    profile = repository / "fraud-monitored" / "profile.json"
    assert main(["evaluate", "fraud-monitored", "--from-log", str(repository / ".logs"),
                 "--out", str(tmp_path / "again"), "--window", "1s",
                 "--profile", str(profile)]) == 0  # fmt: skip
    assert "drift of input: PSI" in capsys.readouterr().out
