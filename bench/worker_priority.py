"""Issue 16, figure 5 with one worker setting as the only difference: 50 clinicians browsing during a
500-image batch, by default with the worker at nice 0 and at nice 10 (`NAEVUS_WORKER_NICE`,
portal/core/cpu_priority.py), interleaved round by round on one stack and one database, so that the
machine's drift and the batch's own variation fall on both alike.

    .venv/bin/python bench/worker_priority.py [--rounds 3] [--setting NAEVUS_WORKER_NICE --values 0,10]
                                              [--quick] [--keep-logs DIR]

Each round and each value: the worker is restarted with that value, warmed with one upload, runs the
batch alone, then the same batch while the clinicians of `api_load.py` browse (same think time, same
pages, same 10,000-patient clinic). Printed per run: the clinicians' p50/p95 and errors, the batch's
rate alone and while they browse; then the median of the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_load  # noqa: E402
import harness  # noqa: E402
from harness import Api, Stack, loadavg, percentile, zip_of  # noqa: E402


def say(message: str) -> None:
    print(f"[priority {time.strftime('%H:%M:%S')} load {loadavg()}] {message}", flush=True)


def one_run(stack: Stack, *, setting: str, value: str, archive: bytes, clinicians: int, warm: bytes) -> dict:
    stack.stop_worker()
    stack.env[setting] = value
    stack.start_worker()
    api = Api(stack.base_url).login()
    api.run_batch(zip_of([warm]), poll_s=0.2)  # loads the model in the pool process
    alone = api.run_batch(archive, poll_s=0.5)
    loaded, browsing = api_load.batch_while_browsing(api, archive, clinicians=clinicians)
    latencies = [x for c in browsing for x in c.latencies]
    # The upload request validates and stores every file of the zip in one web process while the worker
    # already analyses the first ones; after it answers, only the worker and the clinicians are left.
    upload_start = loaded["upload_start"]
    upload_end = upload_start + loaded["upload_s"]
    timed = [(t, x) for c in browsing for t, x in zip(c.started, c.latencies, strict=True)]
    during = [x for t, x in timed if upload_start <= t < upload_end]
    after = [x for t, x in timed if t >= upload_end]
    return {
        "value": value,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "requests": len(latencies),
        "errors": sum(len(c.errors) for c in browsing),
        "alone_img_s": alone["done"] / alone["total_s"],
        "loaded_img_s": loaded["done"] / loaded["total_s"],
        "failed": alone["failed"] + loaded["failed"],
        "upload_p95_ms": percentile(during, 95) * 1000 if during else float("nan"),
        "after_upload_p95_ms": percentile(after, 95) * 1000 if after else float("nan"),
        "upload_s": loaded["upload_s"],
    }


def line(r: dict) -> str:
    return (
        f"{r['value']:>3}: p95 {r['p95_ms']:.0f} ms (p50 {r['p50_ms']:.0f}), {r['errors']} errors / "
        f"{r['requests']} requests; batch {r['loaded_img_s']:.1f} img/s browsing vs {r['alone_img_s']:.1f} alone "
        f"({r['loaded_img_s'] / r['alone_img_s']:.2f}); {r['failed']} failed images; p95 while the zip uploads "
        f"({r['upload_s']:.0f} s) {r['upload_p95_ms']:.0f} ms, after it {r['after_upload_p95_ms']:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--setting", default="NAEVUS_WORKER_NICE", help="the worker's environment variable to vary")
    parser.add_argument("--values", default="0,10", help="its values, run in turn (the order alternates by round)")
    parser.add_argument("--quick", action="store_true", help="api_load's quick sizes (2,000 patients, 100 images)")
    parser.add_argument("--keep-logs", type=Path)
    args = parser.parse_args()
    values = args.values.split(",")
    sizes = api_load.QUICK if args.quick else api_load.FULL
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)

    paths, source = harness.source_images()
    small = harness.image_bytes(paths, len(paths))
    with Stack(keep_logs=args.keep_logs) as stack:
        artifact = stack.tmp / "bench.naevus.pt"
        sha256, meta = harness.make_artifact(artifact, arch="tf_efficientnet_lite0", img_size=192, mean_std=0.5)
        clinic, user, _ = stack.seed_clinic(artifact=artifact, sha256=sha256, meta=meta)
        say(f"generating {sizes.patients} patients / {sizes.lesions} lesions / {sizes.images} images…")
        api_load.generate(
            clinic_id=clinic.pk, username=user.username, patients=sizes.patients, lesions=sizes.lesions,
            images=sizes.images,
        )  # fmt: skip
        stack.start_web()
        archive = zip_of([small[i % len(small)] for i in range(sizes.batch)])
        say(f"{sizes.batch}-image batches of {source}, {sizes.clinicians} clinicians, {args.setting} {values}")
        runs: list[dict] = []
        for round_ in range(args.rounds):
            for value in values if round_ % 2 == 0 else values[::-1]:
                runs.append(
                    one_run(stack, setting=args.setting, value=value, archive=archive, clinicians=sizes.clinicians,
                            warm=small[0])
                )  # fmt: skip
                say(f"round {round_ + 1}, {line(runs[-1])}")

    print(f"\nmedian of {args.rounds} rounds:")
    for value in values:
        mine = [r for r in runs if r["value"] == value]
        median = {k: statistics.median(r[k] for r in mine) for k in mine[0] if k != "value"}
        print(
            f"  {args.setting}="
            + line({"value": value, **median})
            + f"; p95 per round {[round(r['p95_ms']) for r in mine]}"
        )


if __name__ == "__main__":
    main()
