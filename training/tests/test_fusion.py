"""The metadata late-fusion experiment (training/core/fusion.py): its encoding, its paired CI, its plumbing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from classifier.inference.artifact import ARTIFACT_NAME, ArtifactIntegrityError, load_artifact, sha256_file
from classifier.inference.engine import Engine
from classifier.inference.fusion import Metadata, fused_log_odds, fused_probability
from classifier.inference.metrics import roc_auc, threshold_for_sensitivity
from classifier.inference.scoring import calibrate
from training.core.config import TrainConfig
from training.core.data import Record, load_sources
from training.core.fusion import (
    FEATURES,
    fit_head,
    fuse,
    masked_variants,
    metadata_features,
    paired_auc_difference,
    record_metadata,
)
from training.core.fusion import main as fusion_main
from training.core.served_check import check, served_results
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
    assert set(result["splits"]) == {"val", "test", "external/ext"}
    for name, split in result["splits"].items():
        assert split["with_age"] == 0 and split["with_site"] == 0
        assert split["fused_auc"] == pytest.approx(split["image_auc"], abs=1e-9)
        # The report ranks calibrated probabilities; temperature scaling of 8 logits is nearly monotone.
        assert split["image_auc"] == pytest.approx(metrics["splits"][name]["roc_auc"], abs=0.02)


def test_the_head_refits_calibration_and_threshold_on_the_fused_score():
    # Age separates what the image logit does not: the fused score needs its own calibration and threshold.
    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 2, size=n)
    z = 0.8 * (2 * y - 1) + rng.normal(0, 1.5, size=n)
    ages = 45 + 15 * (2 * y - 1) + rng.normal(0, 8, size=n)
    records = [_record(age_approx=f"{a:.0f}", sex=("male", "female")[i % 2]) for i, a in enumerate(ages)]
    head = fit_head(records, z, y, calibration_method="temperature", target_sensitivity=0.9)

    known = [record_metadata(r) for r in records]
    fused = fused_log_odds(head, known, z)
    assert dict(zip(FEATURES, head["coefficients"], strict=True))["age"] > 0.5

    # The temperature minimises the log loss of the fused score on the fitting set (not the image model's).
    def loss(t):
        p = np.clip(calibrate(fused, {"method": "temperature", "T": t}), 1e-7, 1 - 1e-7)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    t = head["calibration"]["T"]
    assert head["calibration"]["method"] == "temperature"
    assert loss(t) <= min(loss(t * 1.1), loss(t / 1.1))
    served = fused_probability(head, known, z)
    assert head["threshold"] == threshold_for_sensitivity(y, served, 0.9)
    flagged = served >= head["threshold"]
    assert flagged[y == 1].mean() >= 0.9
    assert roc_auc(y, served) > roc_auc(y, z) + 0.05
    assert (
        fit_head(records, z, y, calibration_method="platt", target_sensitivity=0.9)["calibration"]["method"] == "platt"
    )


def report_sha(out) -> str:
    return json.loads((out / "result.json").read_text())["sha256"]


@pytest.fixture(scope="module")
def fused_run(tmp_path_factory):
    """A tiny real run whose records carry age, sex and site, with its head written into the artifact."""
    out = tiny_run(tmp_path_factory.mktemp("fused"), n=48, external_seed=7, epochs=2, metadata=True).out_dir
    before = json.loads((out / "result.json").read_text())
    assert fusion_main([str(out), "--write", "--bootstrap", "20"]) == 0
    return out, before


def test_write_stores_the_head_in_the_artifact_under_its_sha256(fused_run):
    out, before = fused_run
    after = json.loads((out / "result.json").read_text())
    report = json.loads((out / "fusion.json").read_text())
    assert after["sha256"] == sha256_file(out / ARTIFACT_NAME) != before["sha256"]
    artifact = load_artifact(out / ARTIFACT_NAME, expected_sha256=after["sha256"])
    head = artifact.meta["fusion"]
    assert head == after["meta"]["fusion"]
    assert head["coefficients"] == [report["coefficients"][f] for f in FEATURES]
    assert head["threshold"] == report["threshold"] and head["calibration"] == report["calibration"]
    # The image model's own operating point is kept beside the head's.
    assert artifact.meta["threshold"] == before["meta"]["threshold"]
    for name in ("test", "external/ext"):
        split = report["splits"][name]
        assert split["with_age"] > 0 and split["with_site"] > 0
        assert (
            set(split["image"]) == set(split["fused"]) == {"roc_auc", "sensitivity", "specificity", "ece", "threshold"}
        )
        assert head["metrics"][name]["fused"] == pytest.approx(split["fused"])


def test_a_tampered_head_fails_the_artifacts_verification(fused_run, tmp_path):
    import torch

    out, _ = fused_run
    sha256 = json.loads((out / "result.json").read_text())["sha256"]
    payload = torch.load(out / ARTIFACT_NAME, weights_only=True)
    payload["meta"]["fusion"]["coefficients"][1] += 1.0
    torch.save(payload, tmp_path / ARTIFACT_NAME)
    with pytest.raises(ArtifactIntegrityError):
        load_artifact(tmp_path / ARTIFACT_NAME, expected_sha256=sha256)


def test_the_served_fused_path_reproduces_the_fused_figures(fused_run, tmp_path):
    out, _ = fused_run
    report = check(out, tolerance=1e-3)
    ext = report["sources"]["external/ext"]
    assert report["fused"] and report["ok"], report
    fusion = json.loads((out / "fusion.json").read_text())
    assert ext["served"]["roc_auc"] == pytest.approx(fusion["splits"]["external/ext"]["fused"]["roc_auc"], abs=1e-3)
    # What it served and compared is the fused probability, not the image model's again.
    engine = Engine.from_artifact(
        out / ARTIFACT_NAME, sha256=report_sha(out), backend="onnx-cpu", onnx_path=tmp_path / "check.onnx"
    )
    fused, image = served_results(engine, load_sources(TrainConfig.load(out / "config.json").external))
    assert np.abs(fused - image).max() > 0.05
    fusion["splits"]["external/ext"]["fused"]["roc_auc"] -= 0.05
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("config.json", "result.json", "metrics.json", ARTIFACT_NAME):
        (copy / name).write_bytes((out / name).read_bytes())
    (copy / "fusion.json").write_text(json.dumps(fusion))
    assert check(copy, tolerance=1e-3)["ok"] is False


def test_each_record_is_fitted_in_every_state_it_can_be_seen_in_once():
    full = Metadata.normalised(age=60, sex="female", site="torso")
    assert len(masked_variants(full)) == 8 and masked_variants(full)[0] == full
    assert masked_variants(Metadata.normalised(age=None, sex="male", site=None)) == [
        Metadata(sex="male"),
        Metadata(),
    ]
    assert masked_variants(Metadata()) == [Metadata()]


def test_a_missing_site_is_served_as_unknown_not_as_the_validation_records_that_lacked_one():
    # Validation as E3 had it: most records carry a site, which matters, and those without one come
    # from a source with few melanomas. Served to a clinic that records no site, the head fitted on
    # validation alone reads "site missing" as that source (low risk); fitted with masked copies
    # (`fit_head`'s default), as "unknown for this patient".
    rng = np.random.default_rng(5)
    sited = 900
    site = rng.choice(["torso", "lower extremity", "head/neck"], size=sited)
    y_sited = rng.random(sited) < np.where(site == "head/neck", 0.45, 0.15)
    y_unsited = rng.random(300) < 0.03
    y = np.concatenate([y_sited, y_unsited]).astype(int)
    z = 1.0 * (2 * y - 1) + rng.normal(0, 1.5, size=len(y))
    records = [_record(anatom_site=s) for s in site] + [_record() for _ in range(300)]

    # The same patients served without their site (a clinic that records none): with the head fitted on
    # validation alone their mean probability drops well below their melanoma rate.
    site_unknown = [replace(record_metadata(r), site=None) for r in records]

    def mean_served(mask_missing: bool) -> float:
        head = fit_head(
            records, z, y, calibration_method="temperature", target_sensitivity=0.9, mask_missing=mask_missing
        )
        assert head["mask_missing"] is mask_missing
        return float(fused_probability(head, site_unknown, z).mean())

    prevalence = float(y.mean())
    assert abs(mean_served(True) - prevalence) < 0.02
    # The regression this guards: validation's unsited source stands in for every unsited patient.
    assert mean_served(False) < prevalence - 0.05


def test_fusion_reuses_the_runs_served_logits_only_for_the_same_weights(tmp_path, monkeypatch):
    import training.core.fusion as fusion

    out = tiny_run(tmp_path, n=48, external_seed=7, epochs=1, metadata=True).out_dir
    rescored = fuse(out, n_bootstrap=20, views=2)  # other views than the run's: scored again
    assert (out / "scores.npz").is_file()

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored again although the run's logits are of these weights")

    with monkeypatch.context() as m:
        m.setattr(fusion, "score_sets", no_scoring)
        reused = fuse(out, n_bootstrap=20)
    again = fuse(out, n_bootstrap=20, views=1)
    assert reused["splits"]["test"]["image_auc"] == pytest.approx(again["splits"]["test"]["image_auc"])
    assert rescored["views"] == 2 and reused["views"] == 1

    # Other weights (the head written, a new sha256): the stored logits are not theirs, so it scores.
    json_path = out / "result.json"
    served = json.loads(json_path.read_text())
    json_path.write_text(json.dumps({**served, "sha256": "0" * 64}))
    from training.core.run import load_scores, prepare

    assert load_scores(out / "scores.npz", sha256="0" * 64, views=1, datasets={}) is None
    json_path.write_text(json.dumps(served))
    cfg = TrainConfig.load(out / "config.json")
    from training.core.distributed import init_runtime

    datasets = prepare(cfg, init_runtime(force_cpu=True)).eval_sets
    loaded = load_scores(out / "scores.npz", sha256=served["sha256"], views=1, datasets=datasets)
    assert loaded is not None and set(loaded) == set(datasets)
    assert load_scores(out / "scores.npz", sha256=served["sha256"], views=4, datasets=datasets) is None
    # The same names in another order (records of another split or run): not these logits.
    shuffled = {**datasets, "val": SimpleNamespace(records=list(reversed(datasets["val"].records)))}
    assert load_scores(out / "scores.npz", sha256=served["sha256"], views=1, datasets=shuffled) is None
