"""How well the out-of-distribution score separates held-out dermoscopy from natural photos.

    python bench/ood_separation.py [--data ../shared/data --per-source 150] [--seed 0]

Model: ``tf_efficientnet_lite0`` with its ImageNet backbone (``testing.make_imagenet_artifact``;
a trained model's artifact can be given with ``--artifact``). Dermoscopy: the 64 real images of
samples/isic, plus, with ``--data``, the first ``--per-source`` files of each source folder there.
They are shuffled (``--seed``) and split 60 / 20 / 20: statistics fitted on the first part, the
threshold (99th percentile) from the second (as ``training.core.ood`` does), the rest held out.
Natural photos: ``testing.natural_photos()`` (scikit-image, scikit-learn and matplotlib samples).

Prints the ROC AUC of the score (held-out dermoscopy vs natural photos), the share of each flagged,
and the score's cost per image.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifier.inference.engine import BACKEND_TORCH_CPU, Engine  # noqa: E402
from classifier.inference.ood import fit_stats, ood_flags, ood_scores  # noqa: E402
from classifier.inference.testing import SAMPLES, make_imagenet_artifact, natural_photos  # noqa: E402

SOURCES = ("ham10000", "isic2017-train", "isic2017-ext", "isic-ham-600px")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, help="default: Lite0 with its ImageNet backbone")
    parser.add_argument("--data", type=Path, help="folder with the dermoscopy sources (optional)")
    parser.add_argument("--per-source", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    derm = sorted(SAMPLES.glob("*.jpg"))
    if args.data is not None:
        for source in SOURCES:
            derm += sorted((args.data / source).glob("*.jpg"))[: args.per_source]
    with tempfile.TemporaryDirectory() as tmp:
        artifact = args.artifact or Path(tmp) / "lite0.naevus.pt"
        if args.artifact is None:
            make_imagenet_artifact(artifact)
        engine = Engine.from_artifact(artifact, sha256=None, backend=BACKEND_TORCH_CPU)
        embeddings = engine.embed([str(p) for p in derm])
        photos = natural_photos()
        photo_embeddings = engine.embed([data for _, data in photos])

    order = np.random.default_rng(args.seed).permutation(len(derm))
    a, b = int(0.6 * len(derm)), int(0.8 * len(derm))
    fit, calibration, held = order[:a], order[a:b], order[b:]
    stats = fit_stats(embeddings[fit], embeddings[calibration])
    start = time.perf_counter()
    held_scores = ood_scores(stats, embeddings[held])
    photo_scores = ood_scores(stats, photo_embeddings)
    per_image_ms = (time.perf_counter() - start) * 1000 / (len(held) + len(photos))
    y = np.r_[np.zeros(len(held_scores)), np.ones(len(photo_scores))]
    auc = roc_auc_score(y, np.r_[held_scores, photo_scores])
    print(
        f"dermoscopy {len(derm)} images: fitted on {len(fit)}, threshold {stats['threshold']:.2f} "
        f"(99th percentile of {len(calibration)}), {len(held)} held out; {len(photos)} natural photos"
    )
    print(f"ROC AUC (held-out dermoscopy vs natural photos): {auc:.3f}")
    held_flagged, photos_flagged = ood_flags(stats, held_scores).mean(), ood_flags(stats, photo_scores).mean()
    print(f"flagged: held-out dermoscopy {held_flagged:.1%}, photos {photos_flagged:.1%}")
    print(f"held-out dermoscopy scores: median {np.median(held_scores):.2f}, max {held_scores.max():.2f}")
    for (name, _), score in zip(photos, photo_scores, strict=True):
        print(f"  {name:14s} {score:.2f}")
    print(f"score cost: {per_image_ms:.3f} ms per image (embedding already computed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
