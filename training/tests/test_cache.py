"""The pixel cache gives exactly the pixels decoding would, and is rebuilt when files or sizes change."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from classifier.inference.preprocessing import Preprocess
from training.core.cache import build_pack, prepare_pixels
from training.core.data import load_sources, sha256_file
from training.core.dataset import LesionDataset, normalize_batch
from training.tests.conftest import make_source

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "isic"


@pytest.fixture
def real_records():
    return load_sources([f"{SAMPLES / 'labels.csv'}:{SAMPLES}"])[:6]


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_pack_holds_the_pixels_that_decoding_gives(tmp_path, real_records, mode):
    preprocess = Preprocess(img_size=64)
    pack = build_pack(real_records, preprocess=preprocess, mode=mode, root=tmp_path)
    assert len(pack) == len(real_records)
    for i, record in enumerate(real_records):
        expected = prepare_pixels(record.path, preprocess=preprocess, mode=mode)
        np.testing.assert_array_equal(pack[i], expected)
    if mode == "eval":
        # Exactly what serving computes before normalisation.
        served = np.asarray(preprocess.geometry(preprocess.open(real_records[0].path)))
        np.testing.assert_array_equal(pack[0], served)
    else:
        assert min(pack[0].shape[:2]) == 64 and max(pack[0].shape[:2]) > 64  # whole field of view kept


def test_a_pack_is_reused_and_rebuilt_when_an_image_or_the_size_changes(tmp_path):
    spec = make_source(tmp_path / "src", n=6, size=40)
    records = load_sources([spec])
    root = tmp_path / "cache"
    first = build_pack(records, preprocess=Preprocess(img_size=32), mode="eval", root=root)
    assert len(list(root.iterdir())) == 1
    build_pack(records, preprocess=Preprocess(img_size=32), mode="eval", root=root)
    assert len(list(root.iterdir())) == 1, "same files and size: the pack is reused"

    # Edit one image in place: its sha256 changes, so a new pack is built with the new pixels.
    Image.new("RGB", (40, 40), (10, 200, 10)).save(records[0].path)
    changed = [dataclasses.replace(records[0], sha256=sha256_file(records[0].path)), *records[1:]]
    second = build_pack(changed, preprocess=Preprocess(img_size=32), mode="eval", root=root)
    assert len(list(root.iterdir())) == 2
    assert not np.array_equal(first[0], second[0])
    assert second[0][16, 16, 1] > 150  # the green square, not the old lesion

    build_pack(changed, preprocess=Preprocess(img_size=24), mode="eval", root=root)
    assert len(list(root.iterdir())) == 3


def test_a_half_written_pack_is_never_used(tmp_path):
    spec = make_source(tmp_path / "src", n=4, size=40)
    records = load_sources([spec])
    root = tmp_path / "cache"
    expected = np.array(build_pack(records, preprocess=Preprocess(img_size=32), mode="eval", root=root)[3])
    folder = next(root.iterdir())
    (folder / "index.npz").unlink()  # as if the writer died before its commit record
    (folder / "pixels.u8").write_bytes(b"\0" * 10)
    rebuilt = build_pack(records, preprocess=Preprocess(img_size=32), mode="eval", root=root)
    np.testing.assert_array_equal(rebuilt[3], expected)


@pytest.mark.parametrize("color_constancy", ["shades_of_gray", None])
def test_batched_normalisation_equals_the_served_one(real_records, color_constancy):
    preprocess = Preprocess(img_size=48, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), color_constancy=color_constancy)
    arrays = [prepare_pixels(r.path, preprocess=preprocess, mode="eval") for r in real_records]
    arrays.append(np.zeros((48, 48, 3), np.uint8))  # black: no illuminant to correct
    batch = normalize_batch(torch.from_numpy(np.stack(arrays)), preprocess)
    assert batch.shape == (len(arrays), 3, 48, 48)
    assert batch.is_contiguous(memory_format=torch.channels_last)
    for i, arr in enumerate(arrays):
        np.testing.assert_allclose(batch[i].numpy(), preprocess.normalize(arr), atol=1e-4)


def test_a_dataset_reads_its_pack_and_refuses_a_pack_of_other_records(tmp_path, real_records):
    preprocess = Preprocess(img_size=40)
    pack = build_pack(real_records, preprocess=preprocess, mode="eval", root=tmp_path)
    dataset = LesionDataset(real_records, task="diagnosis", preprocess=preprocess, pixels=pack)
    uncached = LesionDataset(real_records, task="diagnosis", preprocess=preprocess)
    for i in range(len(real_records)):
        assert torch.equal(dataset[i][0], uncached[i][0])
    with pytest.raises(ValueError, match="pixel pack"):
        LesionDataset(real_records[:3], task="diagnosis", preprocess=preprocess, pixels=pack)
