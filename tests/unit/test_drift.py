"""Drift figures: PSI and KS stay flat on data from the reference's distribution and rise on
shifted data; a live window equals scoring its rows at once; profiles round-trip; a model's
first requests become its reference when it has no profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelport.drift import BINS, DriftMonitor, Profile, TensorProfile, Window, as_rows, score

RNG = np.random.default_rng(7)
REFERENCE = RNG.normal(size=(5000, 12))


def test_psi_stays_flat_on_the_same_distribution_and_rises_on_a_shift() -> None:
    profile = TensorProfile.of(REFERENCE)
    same = score(profile, RNG.normal(size=(2000, 12))).summary()
    shifted = score(profile, RNG.normal(0.6, 1.0, size=(2000, 12))).summary()
    assert same["psi"] < 0.05 and same["ks"] < 0.06  # below the 0.1 "no change" line
    assert shifted["psi"] > 0.25 and shifted["ks"] > 0.18  # past the 0.25 "shift" line
    assert shifted["out_of_range"] > same["out_of_range"]


def test_one_shifted_feature_is_the_one_named() -> None:
    rows = RNG.normal(size=(2000, 12))
    rows[:, 5] *= 3.0  # a wider spread in feature 5 only
    figures = score(TensorProfile.of(REFERENCE), rows)
    assert figures.summary()["psi_feature"] == 5
    assert figures.worst(1)[0]["feature"] == 5
    assert sorted(figures.psi)[-2] < 0.05  # the others did not move


def test_ks_is_a_lower_bound_of_scipys_exact_statistic() -> None:
    from scipy.stats import ks_2samp

    rows = RNG.normal(0.3, 1.2, size=(3000, 12))
    binned = score(TensorProfile.of(REFERENCE), rows).ks
    exact = np.array([ks_2samp(REFERENCE[:, i], rows[:, i]).statistic for i in range(12)])
    assert np.all(binned <= exact + 0.01)  # read at the deciles: never above the exact value
    assert np.all(binned >= exact - 0.05)  # and close to it


@pytest.mark.parametrize("size", [1000, 37])
def test_a_window_equals_scoring_its_newest_rows_at_once(size: int) -> None:
    profile = TensorProfile.of(REFERENCE)
    window = Window(profile, size)
    blocks = [RNG.normal(0.2, 1.0, size=(int(RNG.integers(1, 90)), 12)) for _ in range(80)]
    for block in blocks:
        window.add(block)
    at_once = score(profile, np.concatenate(blocks)[-size:])
    live = window.figures()
    assert live.rows == size
    np.testing.assert_allclose(live.psi, at_once.psi)
    np.testing.assert_allclose(live.ks, at_once.ks)
    np.testing.assert_allclose(live.outside, at_once.outside)


def test_constant_reference_features_flag_any_other_value() -> None:
    reference = np.zeros((500, 3))
    reference[:, 0] = RNG.random(500)
    profile = TensorProfile.of(reference)
    moved = np.zeros((200, 3))
    moved[:, 0], moved[:, 2] = RNG.random(200), 0.5
    figures = score(profile, moved)
    assert figures.psi[2] > 1 and figures.outside[2] == 1.0
    assert figures.psi[1] == pytest.approx(0.0) and figures.outside[1] == 0.0


def test_a_profile_round_trips_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    profile = Profile.of({"input": REFERENCE[:, :4], "output": REFERENCE[:, 4]})
    path = tmp_path / "profile.json"
    profile.save(path)
    again = Profile.load(path)
    assert again.rows == 5000 and set(again.tensors) == {"input", "output"}
    assert again.tensors["input"].features == 4 and again.tensors["output"].features == 1
    np.testing.assert_array_equal(again.tensors["input"].edges, profile.tensors["input"].edges)
    assert again.tensors["input"].shares.shape == (4, BINS)
    for text in ("{}", "[1]", '{"format": "modelport-profile/1", "bins": 10}', "not json"):
        path.write_text(text)
        with pytest.raises(ValueError, match="not a drift profile"):
            Profile.load(path)


def test_rows_of_a_tensor() -> None:
    images = np.zeros((3, 28, 28), np.float32)
    assert as_rows(images, batched=True).shape == (3, 784)
    assert as_rows(images[0], batched=False).shape == (1, 784)
    assert as_rows(np.arange(5), batched=True).shape == (5, 1)
    assert as_rows(np.array([b"text"], dtype=object), batched=True) is None
    assert as_rows(np.zeros((1, 3, 224, 224)), batched=True) is None  # too wide to profile


def test_without_a_profile_the_first_rows_are_the_reference() -> None:
    monitor = DriftMonitor(None, window=300, reference_rows=400)
    for _ in range(10):  # 400 rows in requests of 40
        monitor.observe([("x", RNG.normal(size=(40, 3)))], batched=True)
    assert monitor.figures() == {"x": {"rows": 0.0}}  # reference taken, nothing to compare yet
    for _ in range(10):
        monitor.observe([("x", RNG.normal(2.0, 1.0, size=(40, 3)))], batched=True)
    assert monitor.figures()["x"]["psi"] > 1
    monitor.observe([("x", np.zeros((2, 5)))], batched=True)  # another width: not counted
    assert monitor.skipped == 1 and monitor.figures()["x"]["rows"] == 300
