"""Issue #15 item 4: what the trust signals add to a worker's time per image.

    .venv/bin/python bench/trust_cost.py [--images N] [--img-size 192]     (also `make bench`'s "trust" section)

The served model (tf_efficientnet_lite0, random init: time does not depend on weights) through `Engine` with
ONNX Runtime on the CPU, as the worker runs it (chunks of 8, no heatmap PNG), on real 600×450 dermoscopy JPEGs:
- **with** the quality gate and the OOD score (the artifact carries `ood` statistics, fitted on the same images'
  embeddings), against **without** both (no `ood` in the meta; `quality.assess` replaced by a no-op);
- the embedding output alone: ONNX Runtime asked for logits + CAM features, against all three outputs.
Best of 3 passes each, interleaved, so that a load change on the machine hits both alike.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
from harness import Figure  # noqa: E402


def run(*, images: int = 64, img_size: int = 192, say=print) -> list[Figure]:
    import numpy as np

    from classifier.inference import engine as engine_module
    from classifier.inference import quality
    from classifier.inference.artifact import load_artifact, save_artifact
    from classifier.inference.engine import Engine
    from classifier.inference.ood import fit_stats

    paths, source = harness.source_images()
    data = harness.image_bytes(paths, images)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plain_path = tmp / "plain.naevus.pt"
        sha_plain, meta = harness.make_artifact(
            plain_path, arch="tf_efficientnet_lite0", img_size=img_size, mean_std=0.5
        )
        plain = Engine.from_artifact(plain_path, sha256=sha_plain, backend="onnx-cpu", onnx_path=tmp / "plain.onnx")
        embeddings = np.stack([r.embedding for r in plain.analyse(data, render_heatmaps=False)])
        half = len(embeddings) // 2
        state = load_artifact(plain_path, expected_sha256=sha_plain).state_dict
        checked_path = tmp / "checked.naevus.pt"
        sha_checked = save_artifact(
            checked_path, state_dict=state, meta={**meta, "ood": fit_stats(embeddings[:half], embeddings[half:])}
        )
        checked = Engine.from_artifact(
            checked_path, sha256=sha_checked, backend="onnx-cpu", onnx_path=tmp / "checked.onnx"
        )

        def per_image(engine, *, gate: bool) -> float:
            original = quality.assess
            if not gate:
                engine_module.quality.assess = lambda crop: None
            try:
                start = time.perf_counter()
                for offset in range(0, len(data), 8):  # the worker's chunks
                    engine.analyse(data[offset : offset + 8], render_heatmaps=False)
                return (time.perf_counter() - start) / len(data)
            finally:
                engine_module.quality.assess = original

        with_checks, without = [], []
        for _ in range(3):
            with_checks.append(per_image(checked, gate=True))
            without.append(per_image(plain, gate=False))
        on, off = min(with_checks), min(without)

        session = plain.predictor._get_session()  # the ONNX Runtime session the worker uses
        names = [o.name for o in session.get_outputs()]
        batch = np.stack([plain.preprocess.normalize(np.asarray(plain.preprocess.geometry(plain.preprocess.open(d))))
                          for d in data[:8]])  # fmt: skip
        input_name = session.get_inputs()[0].name

        def onnx_time(outputs) -> float:
            best = float("inf")
            for _ in range(10):
                start = time.perf_counter()
                session.run(outputs, {input_name: batch})
                best = min(best, time.perf_counter() - start)
            return best / len(batch)

        without_embedding = [n for n in names if n != "embedding"]
        all_out, two_out = onnx_time(names), onnx_time(without_embedding)
    say(
        f"trust cost: {on * 1000:.1f} ms/img with checks, {off * 1000:.1f} without; "
        f"ONNX {all_out * 1000:.2f} vs {two_out * 1000:.2f} ms/img"
    )
    return [
        Figure(
            figure="15 quality gate + OOD score: worker time per image",
            ours=f"{on * 1000:.1f} ms",
            baseline=f"{off * 1000:.1f} ms without both",
            ratio=on / off,
            target="≤ 1.10×",
            met=on / off <= 1.10,
            note=f"{images} real images ({source}, 600×450), Engine + ONNX Runtime, chunks of 8, best of 3",
            data={"with_s": with_checks, "without_s": without},
        ),
        Figure(
            figure="15 embedding output: ONNX Runtime time per image",
            ours=f"{all_out * 1000:.2f} ms (logits, CAM features, embedding)",
            baseline=f"{two_out * 1000:.2f} ms (logits, CAM features)",
            ratio=all_out / two_out,
            target="≤ 1.10×",
            met=all_out / two_out <= 1.10,
            note=f"one batch of 8 at {img_size} px, best of 10",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--img-size", type=int, default=192)
    args = parser.parse_args()
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
    django.setup()
    for f in run(images=args.images, img_size=args.img_size):
        print(f"| {f.figure} | {f.ours} | {f.baseline} | {f.ratio:.3f} | {f.target} | {f.met} |")
