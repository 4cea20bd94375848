"""Metrics against values worked out by hand on four images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from classifier.inference import metrics

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def test_roc_auc_counts_correctly_ordered_pairs():
    # Pairs (neg, pos): (0.1,0.35) ok, (0.1,0.8) ok, (0.4,0.35) wrong, (0.4,0.8) ok → 3/4.
    assert metrics.roc_auc(Y, P) == pytest.approx(0.75)


def test_auprc_is_average_precision_over_recall_steps():
    # Ranked: 0.8(+) 0.4(-) 0.35(+): precision 1 at recall .5, 2/3 at recall 1.
    assert metrics.auprc(Y, P) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_threshold_is_the_highest_score_reaching_the_target_sensitivity():
    assert metrics.threshold_for_sensitivity(Y, P, 0.95) == pytest.approx(0.35)
    assert metrics.threshold_for_sensitivity(Y, P, 0.5) == pytest.approx(0.8)


def test_operating_point_at_threshold():
    # At 0.35: flagged 0.4(-), 0.35(+), 0.8(+) → tp 2, fp 1, tn 1, fn 0.
    assert metrics.confusion(Y, P, 0.35) == {"tp": 2, "fp": 1, "tn": 1, "fn": 0}
    point = metrics.operating_point(Y, P, 0.35)
    assert point["sensitivity"] == pytest.approx(1.0)
    assert point["specificity"] == pytest.approx(0.5)
    assert point["ppv"] == pytest.approx(2 / 3)
    assert point["npv"] == pytest.approx(1.0)


def test_brier_and_ece():
    assert metrics.brier(Y, P) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    # One image per bin: |0.1-0| + |0.4-0| + |0.35-1| + |0.8-1| over 4.
    assert metrics.ece(Y, P) == pytest.approx((0.1 + 0.4 + 0.65 + 0.2) / 4)


def test_temperature_recovers_the_hand_computed_optimum():
    # Every image has logits (0, 2 ln 3) and 3 in 4 are melanoma: the NLL optimum
    # puts sigmoid(2 ln 3 / T) at 0.75, i.e. T = 2.
    logits = np.tile([0.0, 2 * math.log(3)], (8, 1))
    y = [1, 1, 1, 0, 1, 1, 1, 0]
    fitted = metrics.fit_calibration(logits, y, 1, "temperature")
    assert fitted["T"] == pytest.approx(2.0, rel=1e-3)
    assert metrics.apply_calibration(logits, 1, fitted) == pytest.approx(np.full(8, 0.75), abs=1e-4)


def test_platt_fits_two_score_levels_exactly():
    # Raw logits ±ln 3 observed at frequencies 1/2 and 1/4: a ln3 + b = 0, -a ln3 + b = -ln 3.
    logits = np.array([[0.0, math.log(3)]] * 4 + [[0.0, -math.log(3)]] * 4)
    y = [1, 0, 1, 0, 1, 0, 0, 0]
    fitted = metrics.fit_calibration(logits, y, 1, "platt")
    assert fitted["a"] == pytest.approx(0.5, abs=1e-3)
    assert fitted["b"] == pytest.approx(-math.log(3) / 2, abs=1e-3)


def test_calibration_keeps_the_ranking_and_so_the_auc():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 2)) * 3
    y = (rng.random(50) < 0.4).astype(int)
    raw = metrics.uncalibrated_probability(logits, 1)
    for method in ("temperature", "platt"):
        calibrated = metrics.apply_calibration(logits, 1, metrics.fit_calibration(logits, y, 1, method))
        assert metrics.roc_auc(y, calibrated) == pytest.approx(metrics.roc_auc(y, raw))


def test_bootstrap_resamples_whole_patients():
    rng = np.random.default_rng(1)
    y = np.array([0, 1] * 10)
    p = rng.random(20) * 0.5 + y * 0.3
    patients = [f"p{i:02d}" for i in range(20)]
    alone = metrics.bootstrap_ci(y, p, patients, metrics.roc_auc, n=200, seed=3)
    # Five copies of each image under the same patient: resampling patients draws the same
    # patients, and AUC does not change when every image is repeated equally often.
    repeated = metrics.bootstrap_ci(
        np.repeat(y, 5), np.repeat(p, 5), np.repeat(patients, 5), metrics.roc_auc, n=200, seed=3
    )
    assert repeated == pytest.approx(alone)
    assert alone[0] < metrics.roc_auc(y, p) < alone[1]


def test_a_single_patient_gives_a_degenerate_interval():
    lo, hi = metrics.bootstrap_ci(Y, P, ["same"] * 4, metrics.roc_auc, n=50)
    assert lo == hi == pytest.approx(0.75)


def test_report_carries_every_published_figure():
    report = metrics.binary_report(Y, P, threshold=0.35, groups=["a", "b", "c", "d"], n_bootstrap=20)
    for name in ("roc_auc", "auprc", "sensitivity", "specificity", "ppv", "npv", "ece", "brier"):
        assert f"{name}_ci95" in report
    assert report["confusion"]["tp"] == 2
    assert report["n"] == 4 and report["positives"] == 2
