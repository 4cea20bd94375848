"""The metadata late-fusion experiment (training/core/fusion.py): its encoding, its paired CI, its plumbing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.core.data import Record
from training.core.fusion import FEATURES, fuse, metadata_features, paired_auc_difference
from training.tests.test_served_check import tiny_run


def _record(**meta) -> Record:
    return Record(
        image_name="x", path=Path("x.jpg"), source="s", patient_id="", diagnosis="nevus", target=0, sha256="0", **meta
    )


def test_metadata_is_encoded_with_a_missing_state():
    rows = metadata_features(
        [_record(age_approx="70.0", sex="male", anatom_site="head/neck"), _record()], np.asarray([1.5, -2.0])
    )
    first, second = (dict(zip(FEATURES, row, strict=True)) for row in rows)
    assert first == pytest.approx(
        {**dict.fromkeys(FEATURES, 0.0), "image_logit": 1.5, "age": 1.0, "male": 1.0, "site:head/neck": 1.0}
    )
    assert second == pytest.approx({**dict.fromkeys(FEATURES, 0.0), "image_logit": -2.0, "age_missing": 1.0})


def test_the_paired_difference_is_zero_for_the_same_scores_and_positive_for_a_better_one():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    base = y + rng.normal(0, 1.5, size=200)
    groups = [str(i) for i in range(200)]
    assert paired_auc_difference(y, base, base, groups, n=200, seed=1) == (0.0, 0.0)
    lo, _ = paired_auc_difference(y, base, y + rng.normal(0, 0.3, size=200), groups, n=200, seed=1)
    assert lo > 0.05


def test_without_metadata_the_fused_model_ranks_exactly_as_the_image_model(tmp_path):
    # The generated sources carry no age, sex or site: the fit can only rescale the image logit,
    # which leaves every AUC unchanged. A fusion that mixed up records or splits would not.
    out = tiny_run(tmp_path, n=48, external_seed=7, epochs=2).out_dir
    result = fuse(out, views=1, n_bootstrap=20)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(result["splits"]) == {"test", "external/ext"}
    for name, split in result["splits"].items():
        assert split["with_age"] == 0 and split["with_site"] == 0
        assert split["fused_auc"] == pytest.approx(split["image_auc"], abs=1e-9)
        # The report ranks calibrated probabilities; temperature scaling of 8 logits is nearly monotone.
        assert split["image_auc"] == pytest.approx(metrics["splits"][name]["roc_auc"], abs=0.02)
