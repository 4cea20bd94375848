"""Several sources in one run: lesions never straddle splits, every source keeps its name and its
figures, the diagnosis vocabulary is one, and sampling can even out the sources."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from training.core.config import TrainConfig
from training.core.data import DIAGNOSIS_CLASSES, Record, canonical_diagnosis, load_sources
from training.core.dataset import LesionDataset
from training.core.distributed import init_runtime
from training.core.loop import DistributedWeightedSampler, make_sampler
from training.core.splits import split_groups, train_val_test
from training.tests.conftest import make_source


def _record(i: int, *, lesion: str = "", source: str = "s", target: int = 0) -> Record:
    return Record(
        image_name=f"I{i}",
        path=Path(f"/nowhere/I{i}.jpg"),
        source=source,
        patient_id="",
        diagnosis="melanoma" if target else "nevus",
        target=target,
        sha256=f"h{i}",
        lesion_id=lesion,
    )


def test_images_of_one_lesion_never_straddle_two_splits():
    # 60 lesions with 1-4 images each, as in HAM10000; no patient ids.
    records, i = [], 0
    for lesion in range(60):
        for _ in range(1 + lesion % 4):
            records.append(_record(i, lesion=f"L{lesion}", target=int(lesion % 3 == 0)))
            i += 1
    split = train_val_test(records, folds=5, fold=0, seed=1)
    side = {index: name for name in ("train", "val", "test") for index in getattr(split, name)}
    by_lesion: dict[str, set[str]] = {}
    for index, record in enumerate(records):
        by_lesion.setdefault(record.lesion_id, set()).add(side[index])
    assert all(len(sides) == 1 for sides in by_lesion.values())
    assert len(set(split_groups(records))) == 60


def test_a_record_without_patient_or_lesion_is_its_own_group():
    records = [_record(0), _record(1), _record(2, lesion="L"), _record(3, lesion="L")]
    assert split_groups(records) == [0, 1, 2, 2]


def test_folds_are_stratified_by_source_as_well_as_melanoma():
    records = [_record(i, source="big", target=int(i % 4 == 0)) for i in range(200)]
    records += [_record(200 + i, source="small", target=int(i % 4 == 0)) for i in range(40)]
    split = train_val_test(records, folds=5, fold=0, seed=3)
    for name in ("val", "test"):
        counts = Counter((records[i].source, records[i].target) for i in getattr(split, name))
        assert counts[("small", 1)] == 2 and counts[("small", 0)] == 6, counts
        assert counts[("big", 1)] == 10 and counts[("big", 0)] == 30, counts


def test_sources_keep_their_name_and_lesion_id(tmp_path):
    spec = make_source(tmp_path / "clinic-x", n=6)
    csv_path = Path(spec.rpartition(":")[0])
    rows = list(csv.DictReader(csv_path.open()))
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*rows[0], "lesion_id"])
        writer.writeheader()
        writer.writerows({**row, "lesion_id": f"L{i // 2}"} for i, row in enumerate(rows))
    records = load_sources([spec])
    assert {r.source for r in records} == {"clinic-x/labels"}
    assert [r.lesion_id for r in records] == ["L0", "L0", "L1", "L1", "L2", "L2"]


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("mel", "melanoma"),
        ("nv", "nevus"),
        ("bkl", "benign keratosis"),
        ("seborrheic keratosis", "benign keratosis"),  # ISIC 2017
        ("akiec", "actinic keratosis"),
        ("bcc", "basal cell carcinoma"),
        ("df", "dermatofibroma"),
        ("vasc", "vascular lesion"),
        ("Melanoma", "melanoma"),
        ("something new", "unknown"),
    ],
)
def test_ham10000_and_isic2017_diagnoses_map_to_one_vocabulary(spelling, canonical):
    assert canonical_diagnosis(spelling) == canonical
    assert canonical in DIAGNOSIS_CLASSES


def test_the_diagnosis_task_is_the_default():
    assert TrainConfig(data=["a:b"], out="x").task == "diagnosis"


def test_balancing_sources_draws_each_source_about_equally(tmp_path):
    records = [_record(i, source="big") for i in range(900)] + [_record(900 + i, source="small") for i in range(100)]
    dataset = LesionDataset(records, task="binary", preprocess=None)  # type: ignore[arg-type]
    cfg = TrainConfig(data=["a:b"], out=str(tmp_path), balance_sources=True, imbalance="weighted_loss")
    sampler = make_sampler(cfg, init_runtime(force_cpu=True), dataset, num_classes=2)
    assert isinstance(sampler, DistributedWeightedSampler)
    drawn = Counter(records[i].source for i in sampler)
    assert abs(drawn["small"] / sum(drawn.values()) - 0.5) < 0.06, drawn

    plain = make_sampler(
        TrainConfig(data=["a:b"], out=str(tmp_path)), init_runtime(force_cpu=True), dataset, num_classes=2
    )
    drawn = Counter(records[i].source for i in plain)
    assert drawn["small"] == 100  # a plain shuffle draws each image once


def test_a_balancing_power_of_one_half_draws_sources_by_the_square_root_of_their_size(tmp_path):
    records = [_record(i, source="big") for i in range(900)] + [_record(900 + i, source="small") for i in range(100)]
    dataset = LesionDataset(records, task="binary", preprocess=None)  # type: ignore[arg-type]
    cfg = TrainConfig(data=["a:b"], out=str(tmp_path), balance_sources=0.5, seed=3)
    shares = []
    for epoch in range(20):
        sampler = make_sampler(cfg, init_runtime(force_cpu=True), dataset, num_classes=2)
        sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        drawn = Counter(records[i].source for i in sampler)
        shares.append(drawn["small"] / sum(drawn.values()))
    # sqrt(100) / (sqrt(100) + sqrt(900)) = 0.25, against 0.10 unbalanced and 0.50 fully balanced
    assert abs(np.mean(shares) - 0.25) < 0.02, shares


def test_a_balancing_power_outside_zero_to_one_is_refused(tmp_path):
    records = [_record(i, source="big") for i in range(10)]
    dataset = LesionDataset(records, task="binary", preprocess=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="power"):
        make_sampler(
            TrainConfig(data=["a:b"], out=str(tmp_path), balance_sources=2.0),
            init_runtime(force_cpu=True),
            dataset,
            num_classes=2,
        )


def test_freezing_the_first_stages_leaves_them_untouched_by_training(tmp_path, tiny_source):
    from classifier.inference.factory import create_model
    from classifier.inference.preprocessing import Preprocess
    from training.core.loop import fit, frozen_prefix

    records = load_sources([tiny_source])
    preprocess = Preprocess(img_size=32)
    cfg = TrainConfig(
        data=[tiny_source],
        out=str(tmp_path),
        arch="efficientnet_b0",
        img_size=32,
        epochs=1,
        batch_size=8,
        freeze_blocks=2,
        progress=False,
        task="binary",
        init="none",
    )
    model = create_model(cfg.arch, num_classes=2, init="none")
    prefix = frozen_prefix(model, 2)
    before = [p.detach().clone() for m in prefix for p in m.parameters()]
    stats_before = model.bn1.running_mean.clone()
    later = model.blocks[3][0].conv_pw.weight.detach().clone()
    train_set = LesionDataset(records, task="binary", preprocess=preprocess, augment="light")
    val_set = LesionDataset(records, task="binary", preprocess=preprocess)
    fit(cfg, init_runtime(force_cpu=True), model, train_set, val_set, num_classes=2, melanoma_index=1)
    after = [p.detach() for m in prefix for p in m.parameters()]
    assert all(torch_equal(a, b) for a, b in zip(before, after, strict=True))
    assert torch_equal(stats_before, model.bn1.running_mean), "frozen stages keep their BatchNorm statistics"
    assert not torch_equal(later, model.blocks[3][0].conv_pw.weight), "later stages still train"
    with pytest.raises(ValueError, match="stages"):
        frozen_prefix(model, 99)


def torch_equal(a, b) -> bool:
    return bool(np.array_equal(a.detach().numpy(), b.detach().numpy()))
