"""Figures 2, 3, 4 and 7: the product end to end, on the same real images, against baselines run in
the same run.

2. the seed's way (bench/seed_server.py: one image per request, full decode, eager NCHW) vs a zip
   upload through the API until every prediction is stored, at 600×450 and at 6000×4000;
3. that bulk path vs a plain loop (draft decode + ONNX Runtime at its best batch) in this process;
4. one image uploaded → its prediction visible to a client polling every 50 ms, p50/p95, against
   the seed's answer-in-the-request latency for the same image;
7. peak RSS of the web and inference-worker processes, and the worker's growth over a long batch.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
from harness import (
    ROOT,
    Api,
    CpuAccount,
    Figure,
    Stack,
    children,
    free_port,
    percentile,
    postgres_pids,
    proc_status_mb,
    wait_for,
    zip_of,
)

RAW_BATCHES = (1, 8, 32)
POLL_S = 0.05


@dataclass
class Sizes:
    bulk_600: int
    bulk_big: int
    latency_600: int
    latency_big: int
    memory_batch: int


FULL = Sizes(bulk_600=64, bulk_big=16, latency_600=20, latency_big=8, memory_batch=2000)
QUICK = Sizes(bulk_600=16, bulk_big=4, latency_600=6, latency_big=3, memory_batch=200)


# --- the seed ------------------------------------------------------------------------------------


def seed_run(artifact: Path, images: dict[str, list[bytes]], log: Path) -> dict[str, dict]:
    """Images/s and per-request latencies of the seed server, driven sequentially."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "seed_server.py"), "--artifact", str(artifact), "--port", str(port)],
        stdout=open(log, "ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/predict"
    try:

        def up():
            try:
                return requests.get(url, timeout=1).ok
            except requests.RequestException:
                return False

        wait_for(up, timeout=120, interval=0.3, what="the seed server")
        out = {}
        for label, data in images.items():
            requests.post(url, data=data[0], timeout=120).raise_for_status()  # warm-up
            latencies, start = [], time.perf_counter()
            for raw in data:
                t = time.perf_counter()
                requests.post(url, data=raw, timeout=120).raise_for_status()
                latencies.append(time.perf_counter() - t)
            out[label] = {"rate": len(data) / (time.perf_counter() - start), "latencies": latencies}
        return out
    finally:
        server.terminate()
        server.wait(timeout=20)


# --- the plain loop ------------------------------------------------------------------------------


def raw_loop(images: list[bytes], *, onnx_path: str, preprocess, batch: int, threads: int = 2) -> tuple[float, float]:
    """Images/s of decode (with JPEG draft) + preprocessing + ONNX Runtime fp32, nothing else, and the CPU
    milliseconds it spent per image (all its threads)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])

    def prepared(chunk):
        return np.stack([preprocess.normalize(np.asarray(preprocess.geometry(preprocess.open(b)))) for b in chunk])

    session.run(["logits"], {"input": prepared(images[:batch])})
    start, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, len(images), batch):
        session.run(["logits"], {"input": prepared(images[offset : offset + batch])})
    return len(images) / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / len(images)


# --- single-image latency ------------------------------------------------------------------------


def upload_latency(api: Api, lesion_id: int, data: bytes) -> dict:
    start = time.perf_counter()
    r = api.post(f"/lesions/{lesion_id}/images/", files={"files": ("lesion.jpg", data, "image/jpeg")})
    if r.status_code != 202:
        raise RuntimeError(f"upload answered {r.status_code}: {r.text[:300]}")
    uploaded = time.perf_counter() - start
    prediction_id = r.json()["images"][0]["predictions"][0]["id"]
    while True:
        poll = time.perf_counter()
        body = api.get(f"/predictions/{prediction_id}/").json()
        if body["status"] in ("done", "failed"):
            break
        time.sleep(max(0.0, POLL_S - (time.perf_counter() - poll)))
    if body["status"] != "done":
        raise RuntimeError(f"prediction {prediction_id} failed: {body.get('error')}")
    return {"total": time.perf_counter() - start, "upload": uploaded, "timings": body["timings"]}


# --- memory --------------------------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Samples the inference pool process's RSS twice a second while a batch runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while not self.stop.is_set():
            rss = proc_status_mb(self.pid, "VmRSS")
            if rss is not None:
                self.samples.append((time.perf_counter() - start, rss))
            self.stop.wait(0.5)


def batch_breakdown(batch_id: int) -> dict:
    """Mean per-image decode / inference / queue time the worker recorded for a batch (ms), and the
    worker's own rate from its first start to its last finish (what the upload does not include)."""
    from django.db.models import Avg, Count, Max, Min

    from classifier.models import Prediction

    agg = Prediction.objects.filter(batch_id=batch_id, status="done").aggregate(
        decode_ms=Avg("decode_ms"),
        inference_ms=Avg("inference_ms"),
        queue_ms=Avg("queue_ms"),
        n=Count("id"),
        first=Min("started_at"),
        last=Max("finished_at"),
    )
    busy = (agg.pop("last") - agg.pop("first")).total_seconds()
    out = {k: round(v or 0.0, 1) for k, v in agg.items() if k != "n"}
    out["worker_img_s"] = round(agg["n"] / busy, 1) if busy > 0 else None
    return out


def run(stack: Stack, api: Api, *, artifact: Path, version, small: list[bytes], big: list[bytes], sizes: Sizes,
        say) -> list[Figure]:  # fmt: skip
    from classifier.inference.preprocessing import Preprocess

    preprocess = Preprocess.from_dict(version.preprocess)
    figures: list[Figure] = []

    say("seed server (full decode, torchvision, eager NCHW, one image per request)…")
    seed = seed_run(
        artifact,
        {"600": small[: sizes.bulk_600], "big": big[: sizes.bulk_big]},
        stack.logs / "seed.log",
    )

    lesion_id = api.new_lesion()
    upload_latency(api, lesion_id, small[0])  # loads the model in the pool process
    worker_pid = stack.worker_pids()[0]
    warm_rss = proc_status_mb(worker_pid, "VmRSS")

    say("bulk path through the API…")
    # Where the CPU goes: what each part of the product spends per image, against the plain loop's.
    account = CpuAccount(
        {
            "web": lambda: [stack.web.pid, *children(stack.web.pid)],
            "worker": stack.worker_pids,
            "postgres": postgres_pids,
            "redis": lambda: [stack.redis.pid],
            "client": lambda: [os.getpid()],
        }
    )
    bulk = {}
    for key, images in (("600", small[: sizes.bulk_600]), ("big", big[: sizes.bulk_big])):
        archive = zip_of(images)
        account.start()
        bulk[key] = api.run_batch(archive)
        bulk[key]["cpu_ms_per_image"] = {k: v * 1000 / len(images) for k, v in account.stop().items()}
    for b in bulk.values():
        b["breakdown"] = batch_breakdown(b["id"])

    say("plain loop (draft decode + ONNX Runtime fp32)…")
    raw_600_runs = {
        b: raw_loop(small[: sizes.bulk_600], onnx_path=version.onnx_path, preprocess=preprocess, batch=b)
        for b in RAW_BATCHES
    }
    raw_600 = {b: rate for b, (rate, _) in raw_600_runs.items()}
    best_batch = max(raw_600, key=raw_600.get)
    raw_big = raw_loop(big[: sizes.bulk_big], onnx_path=version.onnx_path, preprocess=preprocess, batch=best_batch)
    raw = {"600": raw_600[best_batch], "big": raw_big[0]}
    raw_cpu_ms = {"600": raw_600_runs[best_batch][1], "big": raw_big[1]}

    labels = {"600": "600×450", "big": "6000×4000"}
    for key in ("600", "big"):
        n = sizes.bulk_600 if key == "600" else sizes.bulk_big
        b = bulk[key]
        # Predictions stored with their heatmap, not files sent: a failed file is no result.
        ours = b["done"] / b["total_s"]
        base = seed[key]["rate"]
        figures.append(
            Figure(
                figure=f"2 seed's way vs ours, {labels[key]} ({n} images)",
                ours=f"{ours:.2f} img/s",
                baseline=f"{base:.2f} img/s (seed)",
                ratio=ours / base,
                target="≥ 5×",
                met=ours / base >= 5,
                note=f"{b['done']} of {n} done, {b['failed']} failed; upload+validation {b['upload_s']:.1f}s of "
                f"{b['total_s']:.1f}s; worker {b['breakdown']}",
                data={"ours_img_s": ours, "seed_img_s": base, "batch": b},
            )
        )
    for key in ("600", "big"):
        ours = bulk[key]["done"] / bulk[key]["total_s"]
        cpu = bulk[key]["cpu_ms_per_image"]
        spent = ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        figures.append(
            Figure(
                figure=f"3 bulk end-to-end vs plain loop, {labels[key]}",
                ours=f"{ours:.2f} img/s",
                baseline=f"{raw[key]:.2f} img/s (batch {best_batch})",
                ratio=ours / raw[key],
                target="≥ 0.8",
                met=ours / raw[key] >= 0.8,
                note=(f"plain loop {', '.join(f'b{k} {v:.1f}' for k, v in raw_600.items())}; " if key == "600" else "")
                + f"CPU ms per image: ours {sum(cpu.values()):.1f} ({spent}) vs plain loop {raw_cpu_ms[key]:.1f}",
                data={
                    "ours_img_s": ours,
                    "raw_img_s": raw[key],
                    "raw_by_batch_600": raw_600,
                    "cpu_ms_per_image": cpu,
                    "raw_cpu_ms_per_image": raw_cpu_ms[key],
                },
            )
        )

    say("single-image latency (poll every 50 ms)…")
    targets = {"600": 0.150, "big": 0.300}
    for key, data, count in (("600", small, sizes.latency_600), ("big", big, sizes.latency_big)):
        trials = [upload_latency(api, lesion_id, data[i % len(data)]) for i in range(count)]
        totals = [t["total"] for t in trials]
        p50, p95 = percentile(totals, 50), percentile(totals, 95)
        seed_p50 = statistics.median(seed[key]["latencies"])
        upload_p50 = percentile([t["upload"] for t in trials], 50)
        figures.append(
            Figure(
                figure=f"4 single-image latency p50, {labels[key]} ({count} uploads)",
                ours=f"{p50 * 1000:.0f} ms (p95 {p95 * 1000:.0f})",
                baseline=f"{seed_p50 * 1000:.0f} ms (seed, in-request)",
                ratio=p50 / seed_p50,
                target=f"≤ {targets[key] * 1000:.0f} ms",
                met=p50 <= targets[key],
                note=f"upload request p50 {upload_p50 * 1000:.0f} ms; worker {trials[-1]['timings']}",
                data={"p50_s": p50, "p95_s": p95, "seed_p50_s": seed_p50, "upload_p50_s": upload_p50},
            )
        )

    say(f"memory over a {sizes.memory_batch}-image batch…")
    sampler = RssSampler(worker_pid)
    sampler.start()
    long_batch = api.run_batch(zip_of([small[i % len(small)] for i in range(sizes.memory_batch)]), poll_s=1.0)
    sampler.stop.set()
    sampler.join()
    web_peak = max(proc_status_mb(p, "VmHWM") or 0.0 for p in stack.web_pids())
    worker_peak = proc_status_mb(worker_pid, "VmHWM")
    main_peak = proc_status_mb(stack.worker.pid, "VmHWM")
    samples = sampler.samples
    quarter = next(rss for t, rss in samples if t >= samples[-1][0] / 4)
    end = samples[-1][1]
    rate = long_batch["done"] / long_batch["total_s"]
    figures += [
        Figure(
            figure="7 peak RSS, web process (gunicorn worker)",
            ours=f"{web_peak:.0f} MB",
            baseline="700 MB budget",
            ratio=web_peak / 700,
            target="≤ 700 MB",
            met=web_peak <= 700,
            note="max VmHWM of the 2 gunicorn workers after every section above",
        ),
        Figure(
            figure="7 peak RSS, inference worker (pool process, fp32 ONNX)",
            ours=f"{worker_peak:.0f} MB",
            baseline=f"{warm_rss:.0f} MB after its first prediction",
            ratio=worker_peak / warm_rss,
            target="≤ 700 MB",
            met=worker_peak <= 700,
            note=f"Celery main process peak {main_peak:.0f} MB",
        ),
        Figure(
            figure=f"7 worker RSS growth over a {sizes.memory_batch}-image batch",
            ours=f"{end:.0f} MB at the end",
            baseline=f"{quarter:.0f} MB at 25% of the batch",
            ratio=end / quarter,
            target="no growth (≤ 1.05×)",
            met=end / quarter <= 1.05,
            note=f"{long_batch['done']} done, {long_batch['failed']} failed at {rate:.1f} img/s; "
            f"upload+validation {long_batch['upload_s']:.0f}s of {long_batch['total_s']:.0f}s",
            data={"samples": samples[:: max(1, len(samples) // 60)], "batch": long_batch},
        ),
    ]
    return figures
