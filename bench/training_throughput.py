"""Training images/s: our loop (training.core.loop.fit) against today's loop and the seed's.

- seed: the loop the project started from: eager NCHW, batch 64 with 4-step gradient accumulation,
  no data-loader workers, every JPEG decoded on every step;
- today: `fit` as of commit BASELINE (before the on-disk pixel cache; decoded images in memory,
  per-image NumPy normalisation), run from that commit's own files (`git archive`);
- ours: `fit` now: pixels from the on-disk pack, batched colour constancy and normalisation, and
  with `--freeze-blocks 2` as `make evaluate` trains.
All: tf_efficientnet_lite0 from the offline ImageNet weights, 160 px, strong augmentation, on
samples/isic (repeated to 128 images); each loop runs two epochs and the second (warm) one is timed.

    .venv/bin/python bench/training_throughput.py
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.inference.factory import create_model  # noqa: E402
from classifier.inference.preprocessing import Preprocess  # noqa: E402
from training.core.cache import build_pack  # noqa: E402
from training.core.config import TrainConfig  # noqa: E402
from training.core.data import load_sources  # noqa: E402
from training.core.dataset import LesionDataset, normalize_batch  # noqa: E402
from training.core.distributed import init_runtime  # noqa: E402
from training.core.loop import fit  # noqa: E402

SAMPLES = ROOT / "samples" / "isic"
IMG_SIZE = 160
# The last commit before the pixel cache: "today's loop" in issue #11.
BASELINE = "9e70deb"
TODAY = """
import sys, dataclasses
sys.path.insert(0, "bench")
import training_throughput as t
from training.core.data import load_sources
from classifier.inference.preprocessing import Preprocess
records = load_sources([f"{t.SAMPLES / 'labels.csv'}:{t.SAMPLES}"])
records = records + [dataclasses.replace(r, image_name=f"{r.image_name}_b") for r in records]
preprocess = Preprocess(img_size=t.IMG_SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
print(f"today loop: {t.our_loop(records, preprocess):.2f}")
"""


def seed_loop(records, preprocess: Preprocess) -> float:
    """The loop we started from, kept only here as the baseline (decodes every image every step)."""
    model = create_model("tf_efficientnet_lite0", num_classes=2, init="imagenet")
    dataset = LesionDataset(records, task="binary", preprocess=preprocess, augment="strong")
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True, num_workers=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    rate = 0.0
    for _epoch in range(2):
        seen, started = 0, time.perf_counter()
        for step, (pixels, labels, _) in enumerate(loader):
            images = normalize_batch(pixels, preprocess).contiguous()
            loss = F.cross_entropy(model(images), labels) / 4
            loss.backward()
            if (step + 1) % 4 == 0 or step + 1 == len(loader):
                optimizer.step()
                optimizer.zero_grad()
            seen += images.shape[0]
        rate = seen / (time.perf_counter() - started)
    return rate


def today_loop() -> float | None:
    """`fit` of the baseline commit, from its own files; None where git or the commit is missing."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", BASELINE, "bench", "training", "classifier", "samples"],
            cwd=ROOT,
            capture_output=True,
        )
        if archive.returncode:
            return None
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        proc = subprocess.run([sys.executable, "-c", TODAY], cwd=tmp, capture_output=True, text=True)
        found = re.search(r"today loop: ([\d.]+)", proc.stdout)
        if not found:
            print(proc.stderr[-2000:], file=sys.stderr)
            return None
        return float(found.group(1))


def our_loop(records, preprocess: Preprocess, *, freeze_blocks: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(
            data=[f"{SAMPLES / 'labels.csv'}:{SAMPLES}"],
            out=out,
            task="binary",
            img_size=IMG_SIZE,
            epochs=2,
            batch_size=32,
            freeze_blocks=freeze_blocks,
            progress=False,
            lr=1e-4,
        )
        model = create_model(cfg.arch, num_classes=2, init="imagenet")
        pack = build_pack(records, preprocess=preprocess, mode="train", root=Path(out) / "cache")
        val = records[:8]
        val_pack = build_pack(val, preprocess=preprocess, mode="eval", root=Path(out) / "cache")
        train_set = LesionDataset(records, task="binary", preprocess=preprocess, augment="strong", pixels=pack)
        val_set = LesionDataset(val, task="binary", preprocess=preprocess, pixels=val_pack)
        result = fit(cfg, init_runtime(force_cpu=True), model, train_set, val_set, num_classes=2, melanoma_index=1)
    return result.history[-1]["train_img_per_s"]


def main() -> None:
    records = load_sources([f"{SAMPLES / 'labels.csv'}:{SAMPLES}"])
    records = records + [dataclasses.replace(r, image_name=f"{r.image_name}_b") for r in records]
    preprocess = Preprocess(img_size=IMG_SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(records)} images at {IMG_SIZE} px")
    seed = seed_loop(records, preprocess)
    print(f"seed loop: {seed:6.1f} img/s (NCHW, batch 64 x 4 accumulation, decode every step)")
    today = today_loop()
    print(
        f"today loop: {today:6.1f} img/s ({BASELINE}: in-memory decoded images, per-image normalisation)"
        if today
        else f"today loop: not measured (commit {BASELINE} not in this checkout)"
    )
    full = our_loop(records, preprocess, freeze_blocks=0)
    print(f"our loop (all layers trained): {full:6.1f} img/s (pixel pack, batched normalisation)")
    ours = our_loop(records, preprocess, freeze_blocks=2)
    print(f"our loop: {ours:6.1f} img/s (pixel pack, batched normalisation, --freeze-blocks 2 as make evaluate)")
    print(f"ratio vs seed: {ours / seed:.2f}x")
    if today:
        print(f"ratio vs today: {ours / today:.2f}x (all layers trained: {full / today:.2f}x)")


if __name__ == "__main__":
    main()
