"""Training images/s: our loop (training.core.loop.fit) against the seed's loop, same data and model.

The seed's loop: eager NCHW, batch 64 with 4-step gradient accumulation, no data-loader workers,
every JPEG decoded on every step. Ours: decoded images cached, channels_last, batch 32, no
loader worker (on 2 shared cores a worker process only competes with the model for them).
Both: tf_efficientnet_lite0 from the offline ImageNet weights, 160 px, the same augmentation,
on samples/isic (repeated to 128 images).
Each loop runs two epochs; the second (warm) epoch is timed. Prints both rates and their ratio.

    .venv/bin/python bench/training_throughput.py
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classifier.inference.factory import create_model  # noqa: E402
from classifier.inference.preprocessing import Preprocess  # noqa: E402
from training.core.config import TrainConfig  # noqa: E402
from training.core.data import load_sources  # noqa: E402
from training.core.dataset import LesionDataset  # noqa: E402
from training.core.distributed import init_runtime  # noqa: E402
from training.core.loop import fit  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "isic"
IMG_SIZE = 160


def seed_loop(records, preprocess: Preprocess) -> float:
    """The loop we started from, kept only here as the baseline."""
    model = create_model("tf_efficientnet_lite0", num_classes=2, init="imagenet")
    dataset = LesionDataset(records, task="binary", preprocess=preprocess, augment="strong", cache=False)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True, num_workers=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    rate = 0.0
    for _epoch in range(2):
        seen, started = 0, time.perf_counter()
        for step, (images, labels, _) in enumerate(loader):
            loss = F.cross_entropy(model(images), labels) / 4
            loss.backward()
            if (step + 1) % 4 == 0 or step + 1 == len(loader):
                optimizer.step()
                optimizer.zero_grad()
            seen += images.shape[0]
        rate = seen / (time.perf_counter() - started)
    return rate


def our_loop(records, preprocess: Preprocess) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(
            data=[f"{SAMPLES / 'labels.csv'}:{SAMPLES}"],
            out=out,
            img_size=IMG_SIZE,
            epochs=2,
            batch_size=32,
            workers=1,
            progress=False,
            lr=1e-4,
        )
        model = create_model(cfg.arch, num_classes=2, init="imagenet")
        train_set = LesionDataset(records, task="binary", preprocess=preprocess, augment="strong")
        val_set = LesionDataset(records[:8], task="binary", preprocess=preprocess)
        result = fit(cfg, init_runtime(force_cpu=True), model, train_set, val_set, num_classes=2, melanoma_index=1)
    return result.history[-1]["train_img_per_s"]


def main() -> None:
    records = load_sources([f"{SAMPLES / 'labels.csv'}:{SAMPLES}"])
    records = records + [dataclasses.replace(r, image_name=f"{r.image_name}_b") for r in records]
    preprocess = Preprocess(img_size=IMG_SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(records)} images at {IMG_SIZE} px")
    seed = seed_loop(records, preprocess)
    print(f"seed loop: {seed:6.1f} img/s (NCHW, batch 64 x 4 accumulation, no workers, decode every step)")
    ours = our_loop(records, preprocess)
    print(f"our loop:  {ours:6.1f} img/s (channels_last, batch 32, decoded-image cache)")
    print(f"ratio: {ours / seed:.2f}x")


if __name__ == "__main__":
    main()
