"""Score a run's external sources through the serving path and compare with its training report.

    python -m training.core.served_check OUT [--tolerance 0.005]

The figures in `metrics.json` come from the PyTorch model inside the training job. Workers serve
something else: the artifact exported to ONNX, fed by `Engine` (PIL decode, the shared
preprocessing, ONNX Runtime, the artifact's calibration and threshold). This check runs every
`--external` source of the run through exactly that path and fails (exit 1) when the served ROC
AUC, sensitivity or specificity differ from the report by more than the tolerance. When the artifact
carries a metadata fusion head (`training.core.fusion --write`), the served probability is the fused
one: each image goes in with its record's age, sex and site, and the figures must match the fused
ones of OUT/fusion.json, while the image model alone (each result's `image_probability`) must still
match metrics.json. No Django.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from classifier.inference.artifact import ARTIFACT_NAME
from classifier.inference.engine import BACKEND_ONNX_CPU, Engine
from classifier.inference.metrics import operating_point, roc_auc
from training.core.config import TrainConfig
from training.core.data import Record, load_sources, parse_source
from training.core.fusion import record_metadata

FIGURES = ("roc_auc", "sensitivity", "specificity")


def served_results(engine: Engine, records: list[Record], batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(served probability, image-only probability) per record, each image with its record's metadata."""
    served: list[float] = []
    image: list[float] = []
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        for result in engine.analyse([str(r.path) for r in chunk], [record_metadata(r) for r in chunk]):
            if not result.ok:
                raise RuntimeError(f"the serving path refused an evaluation image: {result.error}")
            served.append(result.probability)
            image.append(result.image_probability)
    return np.asarray(served), np.asarray(image)


def served_scores(engine: Engine, paths: list[Path], batch: int = 32) -> np.ndarray:
    scores: list[float] = []
    for start in range(0, len(paths), batch):
        for result in engine.analyse([str(p) for p in paths[start : start + batch]]):
            if not result.ok:
                raise RuntimeError(f"the serving path refused an evaluation image: {result.error}")
            scores.append(result.probability)
    return np.asarray(scores)


def _measured(targets: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    return {"roc_auc": roc_auc(targets, p), **operating_point(targets, p, threshold)}


def _compare(served: dict, reported: dict, tolerance: float) -> dict[str, Any]:
    differences = {k: abs(served[k] - reported[k]) for k in FIGURES}
    return {"served": served, "training_report": reported, "ok": all(d <= tolerance for d in differences.values())}


def check(out: Path, *, tolerance: float) -> dict[str, Any]:
    cfg = TrainConfig.load(out / "config.json")
    metrics = json.loads((out / "metrics.json").read_text())
    result = json.loads((out / "result.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.from_artifact(
            out / ARTIFACT_NAME, sha256=result["sha256"], onnx_path=Path(tmp) / "served.onnx", backend=BACKEND_ONNX_CPU
        )
        fusion = json.loads((out / "fusion.json").read_text()) if engine.fusion is not None else None
        report: dict[str, Any] = {"threshold": engine.threshold, "fused": fusion is not None, "sources": {}, "ok": True}
        image_threshold = float(engine.meta["threshold"])
        for spec in cfg.external:
            name = f"external/{parse_source(spec)[0].parent.name}"
            records = load_sources([spec])
            targets = np.asarray([r.target for r in records])
            scores, image_scores = served_results(engine, records)
            entry = _compare(_measured(targets, image_scores, image_threshold), metrics["splits"][name], tolerance)
            if fusion is not None:
                served = _measured(targets, scores, engine.threshold)
                entry = {
                    **_compare(served, fusion["splits"][name]["fused"], tolerance),
                    "image_only": entry,
                }
                entry["ok"] &= entry["image_only"]["ok"]
            report["sources"][name] = entry
            report["ok"] &= entry["ok"]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the run folder (config.json, metrics.json, model.naevus.pt)")
    parser.add_argument("--tolerance", type=float, default=0.005)
    args = parser.parse_args(argv)
    report = check(args.out, tolerance=args.tolerance)
    what = "served fused (image + metadata)" if report["fused"] else "served"
    for name, rep in report["sources"].items():
        s, t = rep["served"], rep["training_report"]
        print(
            f"{name}: {what} (ONNX, Engine) ROC AUC {s['roc_auc']:.4f} sens {s['sensitivity']:.3f} "
            f"spec {s['specificity']:.3f} | training report {t['roc_auc']:.4f} / {t['sensitivity']:.3f} / "
            f"{t['specificity']:.3f} -> {'same' if rep['ok'] else 'DIFFERENT'}"
        )
        if "image_only" in rep:
            s, t = rep["image_only"]["served"], rep["image_only"]["training_report"]
            print(
                f"{name}: served image alone ROC AUC {s['roc_auc']:.4f} sens {s['sensitivity']:.3f} "
                f"spec {s['specificity']:.3f} | metrics.json {t['roc_auc']:.4f} / {t['sensitivity']:.3f} / "
                f"{t['specificity']:.3f}"
            )
    (args.out / "served_check.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
