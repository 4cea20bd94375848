"""Score a run's external sources through the serving path and compare with its training report.

    python -m training.core.served_check OUT [--tolerance 0.005]

The figures in `metrics.json` come from the PyTorch model inside the training job. Workers serve
something else: the artifact exported to ONNX, fed by `Engine` (PIL decode, the shared
preprocessing, ONNX Runtime, the artifact's calibration and threshold). This check runs every
`--external` source of the run through exactly that path and fails (exit 1) when the served ROC
AUC, sensitivity or specificity differ from the report by more than the tolerance. No Django.
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
from training.core.data import load_sources, parse_source


def served_scores(engine: Engine, paths: list[Path], batch: int = 32) -> np.ndarray:
    scores: list[float] = []
    for start in range(0, len(paths), batch):
        for result in engine.analyse([str(p) for p in paths[start : start + batch]]):
            if not result.ok:
                raise RuntimeError(f"the serving path refused an evaluation image: {result.error}")
            scores.append(result.probability)
    return np.asarray(scores)


def check(out: Path, *, tolerance: float) -> dict[str, Any]:
    cfg = TrainConfig.load(out / "config.json")
    metrics = json.loads((out / "metrics.json").read_text())
    result = json.loads((out / "result.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.from_artifact(
            out / ARTIFACT_NAME, sha256=result["sha256"], onnx_path=Path(tmp) / "served.onnx", backend=BACKEND_ONNX_CPU
        )
        report: dict[str, Any] = {"threshold": engine.threshold, "sources": {}, "ok": True}
        for spec in cfg.external:
            name = f"external/{parse_source(spec)[0].parent.name}"
            records = load_sources([spec])
            targets = np.asarray([r.target for r in records])
            scores = served_scores(engine, [r.path for r in records])
            served = {"roc_auc": roc_auc(targets, scores), **operating_point(targets, scores, engine.threshold)}
            trained = metrics["splits"][name]
            differences = {k: abs(served[k] - trained[k]) for k in ("roc_auc", "sensitivity", "specificity")}
            ok = all(d <= tolerance for d in differences.values())
            report["sources"][name] = {"served": served, "training_report": trained, "ok": ok}
            report["ok"] &= ok
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the run folder (config.json, metrics.json, model.naevus.pt)")
    parser.add_argument("--tolerance", type=float, default=0.005)
    args = parser.parse_args(argv)
    report = check(args.out, tolerance=args.tolerance)
    for name, rep in report["sources"].items():
        s, t = rep["served"], rep["training_report"]
        print(
            f"{name}: served (ONNX, Engine) ROC AUC {s['roc_auc']:.4f} sens {s['sensitivity']:.3f} "
            f"spec {s['specificity']:.3f} | training report {t['roc_auc']:.4f} / {t['sensitivity']:.3f} / "
            f"{t['specificity']:.3f} -> {'same' if rep['ok'] else 'DIFFERENT'}"
        )
    (args.out / "served_check.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
