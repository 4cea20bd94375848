"""Inference throughput of the serving backends on this machine's CPU.

    python bench/model_throughput.py [--artifact PATH] [--threads 2] [--batches 1,8,32]

Prints images/second for EfficientNet-B0 at 224 px (or the artifact's model)
for PyTorch eager (NCHW), PyTorch channels_last, ONNX Runtime fp32 and ONNX
Runtime int8 (static QDQ quantisation), each also as a ratio to eager, plus
int8's max logit difference from fp32 and the ROC AUC of both on real
labelled images (../shared/data/isic-dev when it exists, else samples/isic).
``measure()`` returns the same figures for bench/run_all.py. Without ``--artifact``
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
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "isic"


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


def load_labelled(pre: Preprocess, limit: int) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Preprocessed images and melanoma targets: isic-dev when this checkout has it, else the
    committed samples (a user's clone)."""
    folder = ISIC_DEV if (ISIC_DEV / "labels.csv").exists() else SAMPLES
    labels = folder / "labels.csv"
    if not labels.exists():
        return None
    with open(labels) as fh:
        rows = list(csv.DictReader(fh))[:limit]
    images = np.stack([pre(pre.open(folder / f"{r['image_name']}.jpg")) for r in rows])
    return images, np.array([int(r["target"]) for r in rows]), folder.name


def auc(scores: np.ndarray, targets: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(targets, scores))


def measure(
    *,
    artifact: str | None = None,
    arch: str = "efficientnet_b0",
    img_size: int = 224,
    threads: int = 2,
    batches: tuple[int, ...] = (1, 8, 32),
    budget: float = 2.0,
    auc_images: int = 320,
) -> dict:
    """Images/s per variant and batch, int8's deviation from fp32 and, with real images, both AUCs."""
    torch.set_num_threads(threads)
    if artifact:
        loaded = load_artifact(artifact, expected_sha256=None)
        model = create_model(loaded.meta["arch"], num_classes=loaded.meta["num_classes"])
        model.load_state_dict(loaded.state_dict)
        pre, label = loaded.preprocess, f"{loaded.meta['name']} {loaded.meta['version']}"
        melanoma = int(loaded.meta["melanoma_index"])
    else:
        torch.manual_seed(0)
        model = create_model(arch, num_classes=1)
        pre, label = Preprocess(img_size=img_size), f"{arch} (random weights)"
        melanoma = 0
    model.eval()
    size = pre.img_size
    out: dict = {
        "label": f"{label}, {size} px, {threads} threads, torch {torch.__version__}, onnxruntime {ort.__version__}",
        "batches": list(batches),
    }

    real = load_labelled(pre, auc_images)
    rng = np.random.default_rng(0)
    calibration = list(real[0][:32]) if real else list(rng.normal(size=(32, 3, size, size)).astype(np.float32))

    with tempfile.TemporaryDirectory() as tmp:
        fp32_path, int8_path = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "int8.onnx")
        export_onnx(model, fp32_path, img_size=size)
        quantise_int8(fp32_path, int8_path, calibration)
        fp32, int8 = ort_session(fp32_path, threads), ort_session(int8_path, threads)

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
                table[name].append(throughput(run, x, budget_s=budget))
        out["table"] = table

        probe = real[0][:64] if real else rng.normal(size=(64, 3, size, size)).astype(np.float32)
        ref = fp32.run(["logits"], {"input": probe})[0]
        q = int8.run(["logits"], {"input": probe})[0]
        out["int8_probe"] = f"{len(probe)} {'real' if real else 'random'} images"
        out["int8_max_diff"] = float(np.abs(q - ref).max())
        out["logit_std"] = float(ref.std())
        out["auc"] = None
        if real:
            images, targets, source = real
            s32 = np.concatenate(
                [fp32.run(["logits"], {"input": images[i : i + 32]})[0][:, melanoma] for i in range(0, len(images), 32)]
            )
            s8 = np.concatenate(
                [int8.run(["logits"], {"input": images[i : i + 32]})[0][:, melanoma] for i in range(0, len(images), 32)]
            )
            out["auc"] = {
                "images": len(targets),
                "source": source,
                "fp32": auc(s32, targets),
                "int8": auc(s8, targets),
            }
    return out


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
    batches = tuple(int(b) for b in args.batches.split(","))
    result = measure(
        artifact=args.artifact,
        arch=args.arch,
        img_size=args.img_size,
        threads=args.threads,
        batches=batches,
        budget=args.budget,
        auc_images=args.auc_images,
    )
    print(result["label"])
    header = f"{'img/s (× eager)':<24}" + "".join(f"{'batch ' + str(b):>18}" for b in batches)
    print(header)
    print("-" * len(header))
    eager_row = result["table"]["torch eager NCHW"]
    for name, row in result["table"].items():
        cells = "".join(f"{v:>10.1f} ({v / e:4.2f}×)" for v, e in zip(row, eager_row))
        print(f"{name:<24}{cells}")
    print(
        f"\nint8 vs fp32 on {result['int8_probe']}: max |Δlogit| {result['int8_max_diff']:.3g} "
        f"(logit std {result['logit_std']:.3g}); serving parity tolerance is 1e-4"
    )
    if result["auc"]:
        a = result["auc"]
        print(
            f"ROC AUC on {a['images']} {a['source']} images: fp32 {a['fp32']:.4f}, int8 {a['int8']:.4f} "
            f"(Δ {a['int8'] - a['fp32']:+.4f})"
        )
    else:
        print("no labelled images found: AUC comparison skipped")


if __name__ == "__main__":
    main()
