"""Inference throughput of the serving backends on this machine's CPU.

    python bench/model_throughput.py [--artifact PATH] [--threads 2] [--batches 1,8,32]

Prints images/second for EfficientNet-B0 at 224 px (or the artifact's model)
for PyTorch eager (NCHW), PyTorch channels_last, ONNX Runtime fp32 and ONNX
Runtime int8 (static QDQ quantisation), each also as a ratio to eager, plus
int8's max logit difference from fp32 and, when ../shared/data/isic-dev
exists, the ROC AUC of both on those real images. Without ``--artifact``
the weights are random, so AUCs are near 0.5; only their difference means
something. Network time only; decoding is not included.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifier.inference.artifact import load_artifact  # noqa: E402
from classifier.inference.backends import export_onnx  # noqa: E402
from classifier.inference.factory import create_model  # noqa: E402
from classifier.inference.preprocessing import Preprocess  # noqa: E402

ISIC_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic-dev"


def throughput(run, batch: np.ndarray, *, budget_s: float) -> float:
    run(batch)  # warm-up: allocations, ORT/oneDNN kernel selection
    done, start = 0, time.perf_counter()
    while done < 1 or time.perf_counter() - start < budget_s:
        run(batch)
        done += 1
    return done * len(batch) / (time.perf_counter() - start)


def ort_session(path: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def quantise_int8(fp32_path: str, out_path: str, calibration: list[np.ndarray]) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calibration)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {"input": item[None]}

    prepared = out_path + ".pre.onnx"
    quant_pre_process(fp32_path, prepared)
    quantize_static(
        prepared,
        out_path,
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
    )


def load_isic_dev(pre: Preprocess, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
    labels = ISIC_DEV / "labels.csv"
    if not labels.exists():
        return None
    with open(labels) as fh:
        rows = list(csv.DictReader(fh))[:limit]
    images = np.stack([pre(pre.open(ISIC_DEV / f"{r['image_name']}.jpg")) for r in rows])
    return images, np.array([int(r["target"]) for r in rows])


def auc(scores: np.ndarray, targets: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(targets, scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", help="serving artifact to benchmark instead of random weights")
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--auc-images", type=int, default=320)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    if args.artifact:
        artifact = load_artifact(args.artifact, expected_sha256=None)
        model = create_model(artifact.meta["arch"], num_classes=artifact.meta["num_classes"])
        model.load_state_dict(artifact.state_dict)
        pre, label = artifact.preprocess, f"{artifact.meta['name']} {artifact.meta['version']}"
        melanoma = int(artifact.meta["melanoma_index"])
    else:
        torch.manual_seed(0)
        model = create_model(args.arch, num_classes=1)
        pre, label = Preprocess(img_size=args.img_size), f"{args.arch} (random weights)"
        melanoma = 0
    model.eval()
    size = pre.img_size
    batches = [int(b) for b in args.batches.split(",")]
    print(f"{label}, {size} px, {args.threads} threads, torch {torch.__version__}, onnxruntime {ort.__version__}")

    real = load_isic_dev(pre, args.auc_images)
    rng = np.random.default_rng(0)
    calibration = list(real[0][:32]) if real else list(rng.normal(size=(32, 3, size, size)).astype(np.float32))

    with tempfile.TemporaryDirectory() as tmp:
        fp32_path, int8_path = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "int8.onnx")
        export_onnx(model, fp32_path, img_size=size)
        quantise_int8(fp32_path, int8_path, calibration)
        fp32, int8 = ort_session(fp32_path, args.threads), ort_session(int8_path, args.threads)

        cl_model = copy.deepcopy(model).to(memory_format=torch.channels_last)

        def eager(x):
            with torch.inference_mode():
                return model(torch.from_numpy(x))

        def channels_last(x):
            with torch.inference_mode():
                return cl_model(torch.from_numpy(x).contiguous(memory_format=torch.channels_last))

        variants = {
            "torch eager NCHW": eager,
            "torch channels_last": channels_last,
            "onnxruntime fp32": lambda x: fp32.run(["logits"], {"input": x}),
            "onnxruntime int8 (QDQ)": lambda x: int8.run(["logits"], {"input": x}),
        }
        table = {name: [] for name in variants}
        for b in batches:
            x = rng.normal(size=(b, 3, size, size)).astype(np.float32)
            for name, run in variants.items():
                table[name].append(throughput(run, x, budget_s=args.budget))

        header = f"{'img/s (× eager)':<24}" + "".join(f"{'batch ' + str(b):>18}" for b in batches)
        print(header)
        print("-" * len(header))
        eager_row = table["torch eager NCHW"]
        for name, row in table.items():
            cells = "".join(f"{v:>10.1f} ({v / e:4.2f}×)" for v, e in zip(row, eager_row))
            print(f"{name:<24}{cells}")

        probe = real[0][:64] if real else rng.normal(size=(64, 3, size, size)).astype(np.float32)
        ref = fp32.run(["logits"], {"input": probe})[0]
        q = int8.run(["logits"], {"input": probe})[0]
        diff = float(np.abs(q - ref).max())
        print(
            f"\nint8 vs fp32 on {len(probe)} {'real' if real else 'random'} images: max |Δlogit| {diff:.3g} "
            f"(logit std {float(ref.std()):.3g}); serving parity tolerance is 1e-4"
        )
        if real:
            images, targets = real
            s32 = np.concatenate(
                [fp32.run(["logits"], {"input": images[i : i + 32]})[0][:, melanoma] for i in range(0, len(images), 32)]
            )
            s8 = np.concatenate(
                [int8.run(["logits"], {"input": images[i : i + 32]})[0][:, melanoma] for i in range(0, len(images), 32)]
            )
            a32, a8 = auc(s32, targets), auc(s8, targets)
            print(f"ROC AUC on {len(targets)} isic-dev images: fp32 {a32:.4f}, int8 {a8:.4f} (Δ {a8 - a32:+.4f})")
        else:
            print("isic-dev not found: AUC comparison skipped")


if __name__ == "__main__":
    main()
