"""Issue 16, item 5: audited reads under concurrency. Every `GET /patients/{id}/` writes one audit
row, so this measures how the audit trail's append scales: requests/s at 1, 8 and 32 concurrent
clients against the product's gunicorn (2 workers × 4 threads, as the Procfile runs it) on a
PostgreSQL database of its own. The target is 32 clients ≥ 4× 1 client.

The same clients then ask for `GET /auth/me/`, a signed-in request that writes no audit row: on a
machine with few cores that ratio is the most any request reaches, so it says whether the audit trail or
the machine holds the audited ratio back.

On a machine whose cores are busy, the request's own CPU work hides the audit trail, so the
section also measures the append alone: `audit_record` in 1, 8 and 32 threads of this process, each
with its own database connection, appending back to back (appends/s; each one a transaction and a
commit, as in a request).

    .venv/bin/python bench/audit_load.py [--seconds 15] [--clients 1,8,32] [--keep-logs DIR]

Each client is a thread with its own keep-alive connection (one session cloned from a single
login: 32 logins would trip the login throttle) that asks for the same clinic's patients, one
after another, for the given seconds. The load average before and after is printed with the
figures: on a shared machine it says how much of the CPU the bench actually had.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PASSWORD, USERNAME, Api, Figure, Stack, cpu_seconds, loadavg, percentile  # noqa: E402

PATIENTS = 50


def seed() -> list[int]:
    """A clinic, its clinician and a few patients; returns the patients' ids."""
    from django.contrib.auth import get_user_model

    from portal.accounts.models import Clinic, Membership, Role
    from portal.records.models import Patient

    clinic = Clinic.objects.create(name="Audit bench clinic")
    user = get_user_model().objects.create_user(username=USERNAME, password=PASSWORD)
    Membership.objects.create(user=user, clinic=clinic, role=Role.CLINICIAN)
    return [
        Patient.objects.create(clinic=clinic, mrn=f"A{i:05d}", name="Bench patient", sex="unknown").pk
        for i in range(PATIENTS)
    ]


def in_threads(target, *, clients: int, seconds: float, stop: threading.Event) -> float:
    """Runs `target(k)` in `clients` threads until `seconds` have passed and sets `stop`; returns the
    seconds from the first start to the last join."""
    threads = [threading.Thread(target=target, args=(k,), daemon=True) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return time.perf_counter() - start


def load(api: Api, paths: list[str], *, clients: int, seconds: float, web_pids: list[int]) -> dict:
    """`clients` threads asking for `paths` in turn, back to back; returns the rate, latencies, errors and
    the CPU the web processes used (per request, and in cores: how much of the machine they got)."""
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def client(k: int) -> None:
        own = api.clone()
        i = k
        while not stop.is_set():
            start = time.perf_counter()
            try:
                ok = own.get(paths[i % len(paths)]).status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                latencies[k].append(time.perf_counter() - start)
            else:
                errors[k] += 1
            i += clients

    cpu = cpu_seconds(web_pids)
    elapsed = in_threads(client, clients=clients, seconds=seconds, stop=stop)
    cpu = cpu_seconds(web_pids) - cpu
    done = [x for per in latencies for x in per]
    return {
        "clients": clients,
        "requests": len(done),
        "errors": sum(errors),
        "rps": len(done) / elapsed,
        "p50_ms": percentile(done, 50) * 1000,
        "p95_ms": percentile(done, 95) * 1000,
        "web_cpu_ms_per_request": cpu / max(len(done), 1) * 1000,
        "web_cores": cpu / elapsed,
    }


def appends(user, *, clients: int, seconds: float) -> dict:
    """`clients` threads calling `audit_record` back to back, each on its own connection."""
    from django.db import connections

    from portal.audit.models import Action
    from portal.audit.services import audit_record

    stop = threading.Event()
    counts = [0] * clients

    def writer(k: int) -> None:
        try:
            while not stop.is_set():
                audit_record(user=user, action=Action.READ, object_type="bench", object_id=k)
                counts[k] += 1
        finally:
            connections.close_all()

    cpu = time.process_time()
    elapsed = in_threads(writer, clients=clients, seconds=seconds, stop=stop)
    cpu = time.process_time() - cpu
    return {
        "clients": clients,
        "appends": sum(counts),
        "rps": sum(counts) / elapsed,
        "cpu_ms_per_append": cpu / max(sum(counts), 1) * 1000,
        "cores": cpu / elapsed,
    }


def audit_rows_and_verify() -> tuple[int, bool]:
    from portal.audit.models import AuditEvent
    from portal.audit.services import audit_verify

    return AuditEvent.objects.count(), not audit_verify()


def run(stack: Stack, *, clients: list[int], seconds: float, say) -> list[Figure]:
    from django.contrib.auth import get_user_model

    patient_ids = seed()
    user = get_user_model().objects.get(username=USERNAME)
    appended = []
    for n in clients:
        before = loadavg()
        r = appends(user, clients=n, seconds=seconds)
        r["load_before"], r["load_after"] = before, loadavg()
        say(
            f"{n:>3} threads: {r['rps']:7.1f} appends/s  this process's CPU {r['cpu_ms_per_append']:.0f} ms/append, "
            f"{r['cores']:.2f} cores  (load {r['load_before']} -> {r['load_after']})"
        )
        appended.append(r)
    stack.start_web()
    api = Api(stack.base_url).login()
    web = stack.web_pids()
    patients = [f"/patients/{pk}/" for pk in patient_ids]
    load(api, patients, clients=max(clients), seconds=2, web_pids=web)  # warm up: connections, imports, caches
    # The same clients on a signed-in request that writes no audit row: how far this machine lets any
    # request scale, whatever the audit trail does.
    runs = {}
    for label, paths in (("audited", patients), ("unaudited", ["/auth/me/"])):
        runs[label] = []
        for n in clients:
            before = loadavg()
            r = load(api, paths, clients=n, seconds=seconds, web_pids=web)
            r["load_before"], r["load_after"] = before, loadavg()
            say(
                f"{label} {n:>3} clients: {r['rps']:7.1f} req/s  p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  "
                f"errors {r['errors']}  web CPU {r['web_cpu_ms_per_request']:.0f} ms/request, "
                f"{r['web_cores']:.2f} cores  (load {r['load_before']} -> {r['load_after']})"
            )
            runs[label].append(r)
    rows, intact = audit_rows_and_verify()
    say(f"audit rows written: {rows}; audit verify: {'intact' if intact else 'BROKEN'}")
    return [_figure("audited reads", "GET /patients/{id}/", "req/s", runs["audited"], rows, intact),
            _figure("unaudited reads, this machine's ceiling", "GET /auth/me/", "req/s", runs["unaudited"], rows,
                    intact, target="—"),
            _figure("audit appends alone", "audit_record", "appends/s", appended, rows, intact)]  # fmt: skip


def _figure(
    what: str, how: str, unit: str, results: list[dict], rows: int, intact: bool, *, target: str = "≥ 4×"
) -> Figure:
    one, most = results[0], results[-1]
    ratio = most["rps"] / one["rps"] if one["rps"] else None
    return Figure(
        figure=f"{what}: {most['clients']} clients vs {one['clients']} ({how})",
        ours=f"{most['rps']:.1f} {unit}",
        baseline=f"{one['rps']:.1f} {unit}",
        ratio=ratio,
        target=target,
        met=None if ratio is None or target == "—" else ratio >= 4 and intact,
        note=f"{rows} audit rows, verify {'intact' if intact else 'BROKEN'}; "
        + "; ".join(f"{r['clients']}: {r['rps']:.1f} {unit}, load {r['load_before']}" for r in results),
        data={"runs": results, "audit_rows": rows, "verify_intact": intact},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--keep-logs", type=Path, help="keep gunicorn/redis logs in this folder")
    args = parser.parse_args()
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)

    def say(message: str) -> None:
        print(f"[audit {time.strftime('%H:%M:%S')} load {loadavg()}] {message}", flush=True)

    with Stack(keep_logs=args.keep_logs) as stack:
        for f in run(stack, clients=[int(c) for c in args.clients.split(",")], seconds=args.seconds, say=say):
            print(f"{f.figure}: {f.ours} vs {f.baseline}, ratio {f.ratio:.2f} (target {f.target}); {f.note}")


if __name__ == "__main__":
    main()
