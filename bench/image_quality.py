"""How well the image-quality gate separates good dermoscopy from degraded copies, and what it costs.

    python bench/image_quality.py [--per-source 75] [--data ../shared/data] [--json var/bench/quality.json]

Good images: the first ``--per-source`` files (sorted by name) of each source under ``--data``
(ham10000, isic2017-train, isic2017-ext, isic-ham-600px). Each is decoded as the worker decodes it,
brought to a 512 px short side (a capture at the scale the model cares about), and degraded with
every fault of ``classifier.inference.degrade.FAULTS``; good and degraded are JPEG-encoded (q 92;
the JPEG fault at q 5) and measured through the serving path: ``Preprocess.open`` → ``geometry`` →
``quality.measure``.

Prints, per check, the ROC AUC of its measure (good vs each fault it is meant to catch), the limit
that flags at most 2 % of the good images (the figure in ``quality.THRESHOLDS`` should sit there),
the good images' false-rejection rate at the shipped limits and the share of each fault flagged
with any reason. Then the cost: ``quality.assess`` per image against the served model's time per
image (``tf_efficientnet_lite0`` 192 px, random weights, ONNX Runtime as the worker runs it).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifier.inference import quality  # noqa: E402
from classifier.inference.degrade import FAULTS  # noqa: E402
from classifier.inference.preprocessing import Preprocess  # noqa: E402

SOURCES = ("ham10000", "isic2017-train", "isic2017-ext", "isic-ham-600px")
CAPTURE_SIDE = 512

# measure → (which side is bad, the faults it is meant to catch)
CHECKS = {
    "sharpness": ("low", ("gaussian blur", "motion blur", "heavy JPEG")),
    "highlights": ("high", ("over-exposed",)),
    "brightness": ("low", ("under-exposed",)),
    "shadows": ("high", ("under-exposed",)),
    "lesion_fraction (small)": ("low", ("taken from too far",)),
    "lesion_fraction (fills)": ("high", ("taken from too close",)),
}
LIMITS = {
    "sharpness": "min_sharpness",
    "highlights": "max_highlights",
    "brightness": "min_brightness",
    "shadows": "max_shadows",
    "lesion_fraction (small)": "min_lesion_fraction",
    "lesion_fraction (fills)": "max_lesion_fraction",
}


def good_images(data: Path, per_source: int) -> list[tuple[str, Path]]:
    out = []
    for source in SOURCES:
        folder = data / source
        files = sorted(p for p in folder.glob("*.jpg")) if folder.is_dir() else []
        out += [(source, p) for p in files[:per_source]]
    return out


def capture(path: Path) -> np.ndarray:
    img = Preprocess(img_size=CAPTURE_SIDE).open(path)
    scale = CAPTURE_SIDE / min(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    return np.asarray(img)


def encoded(img: np.ndarray, quality_: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality_)
    return buf.getvalue()


def measured(data: bytes, pre: Preprocess) -> quality.Measures:
    return quality.measure(np.asarray(pre.geometry(pre.open(data))))


def value(m: quality.Measures, check: str) -> float:
    return getattr(m, check.split(" ")[0])


def separation(good: list[quality.Measures], bad: list[quality.Measures], check: str) -> float:
    side, _ = CHECKS[check]
    scores = [value(m, check) for m in good + bad]
    labels = [0] * len(good) + [1] * len(bad)
    sign = -1.0 if side == "low" else 1.0
    return float(roc_auc_score(labels, [sign * s for s in scores]))


def limit_at_frr(good: list[quality.Measures], check: str, frr: float = 0.02) -> float:
    side, _ = CHECKS[check]
    values = np.array([value(m, check) for m in good])
    return float(np.quantile(values, frr if side == "low" else 1 - frr))


def cost(crops: list[np.ndarray], sources: list[bytes]) -> dict:
    from bench.harness import make_artifact
    from classifier.inference.engine import Engine

    for crop in crops[:5]:
        quality.assess(crop)
    # CPU time, not wall time: on a shared machine wall time measures the neighbours.
    start = time.process_time()
    for _ in range(3):
        for crop in crops:
            quality.assess(crop)
    quality_ms = (time.process_time() - start) * 1000 / (3 * len(crops))
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "model.pt"
        sha256, _ = make_artifact(artifact, arch="tf_efficientnet_lite0", img_size=192, mean_std=None)
        engine = Engine.from_artifact(artifact, sha256=sha256, backend="onnx-cpu")
        engine.analyse(sources[:8])
        start = time.process_time()
        results = engine.analyse(sources)
        worker_ms = (time.process_time() - start) * 1000 / len(sources)
    decode_ms = float(np.mean([r.decode_ms for r in results]))
    inference_ms = float(np.mean([r.inference_ms for r in results]))
    return {
        "images": len(sources),
        "quality_ms": quality_ms,
        "engine_ms_per_image": worker_ms,
        "decode_ms": decode_ms,
        "inference_ms": inference_ms,
        "share_of_engine_time": quality_ms / worker_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--per-source", type=int, default=75)
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "bench" / "quality.json")
    args = parser.parse_args()

    images = good_images(args.data, args.per_source)
    if not images:
        sys.exit(f"no images under {args.data}")
    pre = Preprocess(img_size=quality.QUALITY_SIZE)
    good: list[quality.Measures] = []
    bad: dict[str, list[quality.Measures]] = {name: [] for name in FAULTS}
    good_bytes: list[bytes] = []
    start = time.perf_counter()
    for _source, path in images:
        img = capture(path)
        data = encoded(img)
        good_bytes.append(data)
        good.append(measured(data, pre))
        for name, fault in FAULTS.items():
            bad[name].append(measured(encoded(fault(img)), pre))
    print(
        f"{len(images)} good images ({', '.join(SOURCES)}), {len(FAULTS)} faults each, "
        f"{time.perf_counter() - start:.0f} s"
    )

    rows = []
    for check, (_side, targets) in CHECKS.items():
        limit = limit_at_frr(good, check)
        shipped = getattr(quality.THRESHOLDS, LIMITS[check])
        for fault in (f for f in FAULTS if f.startswith(targets)):
            rows.append(
                {
                    "check": check,
                    "fault": fault,
                    "roc_auc": separation(good, bad[fault], check),
                    "limit_at_2pct_frr": limit,
                    "shipped_limit": shipped,
                }
            )
    print("\n| check | fault | ROC AUC | limit at 0.5 / 1 / 2 % FRR | shipped limit |\n|---|---|---|---|---|")
    for r in rows:
        at = " / ".join(f"{limit_at_frr(good, r['check'], q):.4g}" for q in (0.005, 0.01, 0.02))
        print(f"| {r['check']} | {r['fault']} | {r['roc_auc']:.3f} | {at} | {r['shipped_limit']:.4g} |")

    good_flags = [quality.judge(m) for m in good]
    by_reason = {r: sum(r in f for f in good_flags) / len(good) for r in quality.REASON_LABELS}
    frr = sum(bool(f) for f in good_flags) / len(good)
    print(
        f"\ngood images flagged at the shipped limits: {frr:.1%} "
        f"({', '.join(f'{r} {v:.1%}' for r, v in by_reason.items())})"
    )
    flagged = {}
    print("\n| fault | flagged (any reason) | main reason |\n|---|---|---|")
    for name, measures in bad.items():
        flags = [quality.judge(m) for m in measures]
        counts = {r: sum(r in f for f in flags) for r in quality.REASON_LABELS}
        main = max(counts, key=counts.get)
        flagged[name] = sum(bool(f) for f in flags) / len(flags)
        print(f"| {name} | {flagged[name]:.1%} | {main} ({counts[main] / len(flags):.0%}) |")

    crops = [np.asarray(pre.geometry(pre.open(d))) for d in good_bytes[:64]]
    figures = cost(crops, good_bytes[:64])
    print(
        f"\ncost: quality {figures['quality_ms']:.2f} ms/image; the engine (decode + ONNX + heatmap) "
        f"{figures['engine_ms_per_image']:.1f} ms/image (CPU time, all threads; "
        f"wall: decode {figures['decode_ms']:.1f}, network {figures['inference_ms']:.1f}) → "
        f"{figures['share_of_engine_time']:.1%} of the engine's time, the gate included"
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "images": len(images),
                "separation": rows,
                "good_frr": frr,
                "good_frr_by_reason": by_reason,
                "fault_flagged": flagged,
                "cost": figures,
                "measures": {
                    "good": [m.to_dict() for m in good],
                    **{k: [m.to_dict() for m in v] for k, v in bad.items()},
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
