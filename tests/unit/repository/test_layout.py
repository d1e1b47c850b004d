from __future__ import annotations

from pathlib import Path

import pytest

from modelport.repository.layout import (
    ModelProblem,
    ModelSource,
    contained,
    is_valid_name,
    scan,
)


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_scan_finds_numeric_versions_only(tmp_path: Path) -> None:
    for version in ("1", "2", "010", "0", "latest", "3"):
        touch(tmp_path / "m" / version / "model.onnx")
    touch(tmp_path / ".hidden" / "1" / "model.onnx")
    found = scan(tmp_path)
    assert [(s.name, s.version) for s in found if isinstance(s, ModelSource)] == [("m", 3)]


def test_scan_reports_bad_models_and_keeps_the_rest(tmp_path: Path) -> None:
    touch(tmp_path / "good" / "1" / "model.onnx")
    touch(tmp_path / "bad_config" / "1" / "model.onnx")
    (tmp_path / "bad_config" / "config.yaml").write_text("nonsense_key: 1\n")
    (tmp_path / "empty").mkdir()
    touch(tmp_path / "renamed" / "1" / "model.onnx")
    (tmp_path / "renamed" / "config.yaml").write_text("name: ../escape\n")
    found = {item.name: item for item in scan(tmp_path)}
    assert isinstance(found["good"], ModelSource)
    assert isinstance(found["bad_config"], ModelProblem)
    assert "unknown keys" in found["bad_config"].reason
    assert isinstance(found["empty"], ModelProblem)
    assert isinstance(found["renamed"], ModelProblem)
    assert "invalid model name" in found["renamed"].reason


@pytest.mark.parametrize(
    "name", ["..", ".", "../etc", "a/b", "/etc/passwd", " ..", "a\0b", "", "model\n"]
)
def test_names_that_could_escape_are_invalid(name: str) -> None:
    assert not is_valid_name(name)


@pytest.mark.parametrize("name", ["...", "..my_model", "model..1", "digits", "a-b_c.1"])
def test_unusual_but_safe_names_are_valid(name: str) -> None:
    assert is_valid_name(name)


def test_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.onnx"
    touch(outside)
    repo = tmp_path / "repo"
    (repo / "m" / "1").mkdir(parents=True)
    (repo / "m" / "1" / "model.onnx").symlink_to(outside)
    with pytest.raises(ValueError, match="escapes the model repository"):
        contained(repo / "m" / "1" / "model.onnx", repo)
