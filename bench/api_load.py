"""Figure 5: the API on PostgreSQL with a large clinic (generate_fake_records: 10,000 patients,
40,000 lesions, 100,000 images and predictions), against a 100-patient clinic in the same database.

- patient list and case history p50/p95 over HTTP (gunicorn), and their query counts (counted
  in-process with Django's test client: they must not depend on the size);
- the worklist (issue #14: every filter's first pages, the counts in the navigation, one lesion with "next")
  p50/p95 over HTTP and its query counts, large clinic against small;
- 50 simulated clinicians (threads, loopback only, 1–3 s think time after every click, bounded
  by the batch) browsing list → case history → a prediction while a batch runs: p95, errors, and the batch's
  rate against the same batch run alone just before.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import requests
from harness import Api, Figure, Stack, percentile, zip_of

SMALL = {"patients": 100, "lesions": 400, "images": 1000}
# Clinicians browse the first pages of the list (newest visits first); deep pages are a search's job.
PAGES = 10


@dataclass
class Sizes:
    patients: int
    lesions: int
    images: int
    requests: int
    clinicians: int
    batch: int


FULL = Sizes(patients=10_000, lesions=40_000, images=100_000, requests=60, clinicians=50, batch=500)
QUICK = Sizes(patients=2_000, lesions=8_000, images=20_000, requests=20, clinicians=50, batch=100)


def generate(*, clinic_id: int, username: str, patients: int, lesions: int, images: int) -> float:
    from django.core.management import call_command

    start = time.perf_counter()
    call_command(
        "generate_fake_records",
        clinic=clinic_id,
        user=username,
        patients=patients,
        lesions=lesions,
        images=images,
        stdout=open("/dev/null", "w"),
    )
    return time.perf_counter() - start


def query_counts(user, patient_ids: list[int]) -> dict:
    """Queries per request for the patient list and for each given patient's case history."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    counts = {}
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/v1/patients/").status_code == 200
    counts["list"] = len(ctx.captured_queries)
    for pid in patient_ids:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/api/v1/patients/{pid}/history/").status_code == 200
        counts[f"history {pid}"] = len(ctx.captured_queries)
    return counts


def extreme_patients(clinic) -> tuple[int, int]:
    """The clinic's patient with the fewest and the one with the most images."""
    from django.db.models import Count

    from portal.records.models import Patient

    qs = Patient.objects.filter(clinic=clinic).annotate(n=Count("lesions__images"))
    return qs.order_by("n", "id").first().pk, qs.order_by("-n", "id").first().pk


def sequential(api: Api, patient_ids: list[int], n: int, rng: random.Random) -> dict[str, list[float]]:
    out = {"list": [], "history": []}
    pages = max(1, len(patient_ids) // 25)
    for _ in range(n):
        t = time.perf_counter()
        api.get(f"/patients/?page={rng.randint(1, min(pages, PAGES))}").raise_for_status()
        out["list"].append(time.perf_counter() - t)
        t = time.perf_counter()
        api.get(f"/patients/{rng.choice(patient_ids)}/history/").raise_for_status()
        out["history"].append(time.perf_counter() - t)
    return out


WORKLIST_FILTERS = ("unreviewed", "refer", "awaiting_second_read", "disagreement", "follow_up_due", "awaiting_biopsy")
REVIEWED_SHARE = 0.3
PAGE_SIZE = 25  # REST_FRAMEWORK["PAGE_SIZE"]


def seed_reviews(clinic, readers: list, rng: random.Random, share: float = REVIEWED_SHARE) -> dict[str, int]:
    """Signed reads on `share` of the clinic's lesions, so that every worklist filter has rows, as a working
    clinic's do: first reads (a benign call on most routine results, a suspicious or malignant one on most refers;
    the default policy's second reads on every refer and every disagreement), a second read by another clinician
    on 60 % of those (20 % of them differing from the first, a fifth of those with a consensus note) and
    follow-up dates of which a fifth have fallen due. Written in bulk (no audit rows, no signals: bench data, not
    product writes), then the results' review state and the cache stamp refreshed as the receivers would."""
    from datetime import timedelta

    from django.utils import timezone

    from classifier.models import CURRENT_RESULT, Prediction
    from portal.core.clinic_changes import clinic_changed
    from triage.models import FOLLOW_UP_KINDS, Management, ReadKind, Review
    from triage.reviews import model_agrees, review_fields_refresh

    first_reader, second_reader = readers
    now, today = timezone.now(), timezone.localdate()
    results = list(
        Prediction.objects.filter(CURRENT_RESULT, clinic=clinic).order_by("id").values_list("id", "risk_category")
    )
    chosen = rng.sample(results, int(len(results) * share))

    def read(prediction_id, risk, reader, kind, assessment):
        management = {
            "benign": rng.choice([Management.DISCHARGE, Management.ROUTINE_FOLLOW_UP]),
            "suspicious": rng.choice([Management.SHORT_TERM_MONITORING, Management.EXCISE]),
            "malignant": rng.choice([Management.EXCISE, Management.URGENT_REFERRAL]),
        }[assessment]
        due = today - timedelta(days=rng.randint(0, 30)) if rng.random() < 0.2 else today + timedelta(days=90)
        agrees = model_agrees(risk=risk, assessment=assessment)
        return Review(
            clinic=clinic, prediction_id=prediction_id, reader=reader, kind=kind, assessment=assessment,
            management=management, follow_up_date=due if management in FOLLOW_UP_KINDS else None,
            agrees_with_model=agrees, model_risk=risk, signed_at=now,
            needs_second_read=kind == ReadKind.FIRST and (risk == "refer" or not agrees),
        )  # fmt: skip

    firsts, seconds, consensus = [], [], []
    for prediction_id, risk in chosen:
        refer = risk == "refer"
        if refer:
            assessment = rng.choices(["benign", "suspicious", "malignant"], [0.3, 0.5, 0.2])[0]
        else:
            assessment = rng.choices(["benign", "suspicious", "malignant"], [0.85, 0.13, 0.02])[0]
        first = read(prediction_id, risk, first_reader, ReadKind.FIRST, assessment)
        firsts.append(first)
        if first.needs_second_read and rng.random() < 0.6:
            second = read(prediction_id, risk, second_reader, ReadKind.SECOND, assessment)
            if rng.random() < 0.2:
                other = [a for a in ("benign", "suspicious", "malignant") if a != assessment]
                second = read(prediction_id, risk, second_reader, ReadKind.SECOND, rng.choice(other))
                if rng.random() < 0.2:
                    consensus.append(read(prediction_id, risk, first_reader, ReadKind.CONSENSUS, assessment))
            else:
                second.management, second.follow_up_date = first.management, first.follow_up_date
            seconds.append(second)
    Review.objects.bulk_create(firsts + seconds + consensus, batch_size=2000)
    review_fields_refresh(prediction_ids=[review.prediction_id for review in firsts])  # what the receivers would do
    clinic_changed(clinic.pk)
    return {"first": len(firsts), "second": len(seconds), "consensus": len(consensus)}


def worklist_sequential(api: Api, n: int, rng: random.Random) -> dict[str, list[float]]:
    """What a clinician's worklist screen asks for: the navigation's counts, a page of one filter (one of its
    first three, within the filter's size, as the SPA's pager offers) and an item of the page (with its "next")."""
    out: dict[str, list[float]] = {"worklist": [], "counts": [], "item": []}
    for _ in range(n):
        kind = rng.choice(WORKLIST_FILTERS)
        t = time.perf_counter()
        counts = api.get("/worklist/counts/")
        counts.raise_for_status()
        out["counts"].append(time.perf_counter() - t)
        pages = max(1, -(-counts.json()[kind] // PAGE_SIZE))
        t = time.perf_counter()
        page = api.get(f"/worklist/?filter={kind}&page={rng.randint(1, min(3, pages))}")
        page.raise_for_status()
        out["worklist"].append(time.perf_counter() - t)
        rows = page.json()["results"]
        if rows:
            t = time.perf_counter()
            api.get(f"/worklist/lesions/{rng.choice(rows)['lesion_id']}/?filter={kind}").raise_for_status()
            out["item"].append(time.perf_counter() - t)
    return out


def worklist_query_counts(user) -> dict:
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    counts = {}
    for name, path in (("worklist", "/api/v1/worklist/"), ("counts", "/api/v1/worklist/counts/")):
        # Counted with the clinic's counts computed (not served from the cache): the cost of a miss.
        cache.clear()
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
            assert response.status_code == 200, response.content[:200]
        counts[name] = len(ctx.captured_queries)
        if name == "worklist" and response.json()["results"]:
            lesion = response.json()["results"][0]["lesion_id"]
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(f"/api/v1/worklist/lesions/{lesion}/").status_code == 200
            counts["item"] = len(ctx.captured_queries)
    return counts


class Clinician(threading.Thread):
    """Browses as a clinician does: a page of the patient list, one case history, one prediction."""

    def __init__(self, api: Api, stop: threading.Event, seed: int) -> None:
        super().__init__(daemon=True)
        self.api, self.stop, self.rng = api, stop, random.Random(seed)
        self.latencies: list[float] = []
        self.started: list[float] = []  # perf_counter() at each timed request's start
        self.errors: list[str] = []

    def timed(self, path: str):
        """One click: the request, then the clinician reads the page."""
        t = time.perf_counter()
        try:
            r = self.api.get(path, timeout=30)
        except requests.RequestException as exc:
            self.errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")
            r = None
        else:
            self.latencies.append(time.perf_counter() - t)
            self.started.append(t)
            if r.status_code >= 400:
                self.errors.append(str(r.status_code))
                r = None
        self.stop.wait(self.rng.uniform(1.0, 3.0))
        return r.json() if r is not None else None

    def run(self) -> None:
        self.stop.wait(self.rng.uniform(0, 3.0))  # clinicians do not all start on the same tick
        while not self.stop.is_set():
            page = self.timed(f"/patients/?page={self.rng.randint(1, PAGES)}")
            if page and page["results"]:
                history = self.timed(f"/patients/{self.rng.choice(page['results'])['id']}/history/")
                predictions = [
                    p["id"]
                    for lesion in (history or {}).get("lesions", [])
                    for image in lesion["images"]
                    for p in image["predictions"]
                ]
                if predictions:
                    self.timed(f"/predictions/{self.rng.choice(predictions)}/")


def batch_while_browsing(api: Api, archive: bytes, *, clinicians: int) -> tuple[dict, list[Clinician]]:
    """Runs the batch while `clinicians` browse; returns the batch's timings (with `upload_start`, the
    perf_counter() at its upload's start) and the clinicians, with what each of them measured."""
    stop = threading.Event()
    browsing = [Clinician(api.clone(), stop, seed=i) for i in range(clinicians)]
    for c in browsing:
        # gunicorn closes an idle keep-alive connection after 2 s, less than a clinician's think time,
        # and reusing one races that close; a browser retries such a request, requests does not.
        c.api.s.headers["Connection"] = "close"
    for c in browsing:
        c.start()
    try:
        upload_start = time.perf_counter()
        loaded = api.run_batch(archive, poll_s=0.5)
    finally:
        stop.set()
        for c in browsing:
            c.join(timeout=40)
    return {**loaded, "upload_start": upload_start}, browsing


def latency_figure(figure: str, big: list[float], small: list[float], *, note: str, data: dict) -> Figure:
    """One endpoint's p95 on the large clinic against the 100-patient clinic, against the 50 ms target."""
    p95, base95 = percentile(big, 95), percentile(small, 95)
    return Figure(
        figure=figure,
        ours=f"{p95 * 1000:.0f} ms (p50 {percentile(big, 50) * 1000:.0f})",
        baseline=f"{base95 * 1000:.0f} ms (p50 {percentile(small, 50) * 1000:.0f}), 100-patient clinic",
        ratio=p95 / base95,
        target="≤ 50 ms",
        met=p95 <= 0.050,
        note=note,
        data={"big_s": big, "small_s": small, **data},
    )


def run(stack: Stack, api: Api, *, clinic, user, small_images: list[bytes], sizes: Sizes, say) -> list[Figure]:
    from django.contrib.auth import get_user_model

    from portal.accounts.models import Clinic, Membership, Role
    from portal.records.models import Patient

    say(f"generating {sizes.patients} patients / {sizes.lesions} lesions / {sizes.images} images…")
    gen_s = generate(
        clinic_id=clinic.pk,
        username=user.username,
        patients=sizes.patients,
        lesions=sizes.lesions,
        images=sizes.images,
    )
    small_clinic = Clinic.objects.create(name="Bench small clinic")
    small_user = get_user_model().objects.create_user(username="bench-small", password="bench password 123")
    Membership.objects.create(user=small_user, clinic=small_clinic, role=Role.CLINICIAN)
    generate(clinic_id=small_clinic.pk, username=small_user.username, **SMALL)
    second = get_user_model().objects.create_user(username="bench-second", password="bench password 123")
    Membership.objects.create(user=second, clinic=clinic, role=Role.CLINICIAN)
    small_second = get_user_model().objects.create_user(username="bench-small-second", password="bench password 123")
    Membership.objects.create(user=small_second, clinic=small_clinic, role=Role.CLINICIAN)
    reviews = seed_reviews(clinic, [user, second], random.Random(1))
    seed_reviews(small_clinic, [small_user, small_second], random.Random(2))
    say(f"seeded reads: {reviews}")

    big_ids = list(Patient.objects.filter(clinic=clinic).values_list("pk", flat=True))
    small_ids = list(Patient.objects.filter(clinic=small_clinic).values_list("pk", flat=True))
    big_counts = query_counts(user, list(extreme_patients(clinic)))
    small_counts = query_counts(small_user, list(extreme_patients(small_clinic)))

    say("list and case history latency, sequential…")
    small_api = Api(stack.base_url).login("bench-small", "bench password 123")
    rng = random.Random(0)
    sequential(api, big_ids, 3, rng)  # warm the connections and caches of both gunicorn workers
    big = sequential(api, big_ids, sizes.requests, rng)
    small = sequential(small_api, small_ids, sizes.requests, rng)

    figures = []
    for key, label in (("list", "patient list"), ("history", "case history")):
        figures.append(
            latency_figure(
                f"5 {label} p95, {sizes.patients}-patient clinic",
                big[key],
                small[key],
                note=f"{sizes.requests} sequential requests over HTTP"
                + (f"; data generated in {gen_s:.0f}s" if key == "list" else ""),
                data={"generate_s": gen_s},
            )
        )
    big_history = sorted(v for k, v in big_counts.items() if k.startswith("history"))
    small_history = sorted(v for k, v in small_counts.items() if k.startswith("history"))
    constant = big_counts["list"] == small_counts["list"] and len(set(big_history + small_history)) == 1
    figures.append(
        Figure(
            figure="5 queries per request (list / case history)",
            ours=f"{big_counts['list']} / {big_history[-1]} (large clinic, largest patient)",
            baseline=f"{small_counts['list']} / {small_history[0]} (small clinic, smallest patient)",
            ratio=(big_counts["list"] + big_history[-1]) / (small_counts["list"] + small_history[0]),
            target="constant",
            met=constant,
            data={"big": big_counts, "small": small_counts},
        )
    )

    say("worklist latency, sequential…")
    worklist_sequential(api, 3, rng)
    big_w = worklist_sequential(api, sizes.requests, rng)
    small_w = worklist_sequential(small_api, sizes.requests, rng)
    big_wc, small_wc = worklist_query_counts(user), worklist_query_counts(small_user)
    for key, label in (("worklist", "worklist page"), ("counts", "worklist counts"), ("item", "worklist lesion")):
        if not big_w[key] or not small_w[key]:
            continue
        figures.append(
            latency_figure(
                f"14 {label} p95, {sizes.patients}-patient clinic",
                big_w[key],
                small_w[key],
                note=f"{len(big_w[key])} sequential requests over HTTP, random filter and page; "
                f"queries {big_wc.get(key)} (small clinic {small_wc.get(key)})",
                data={"queries": [big_wc, small_wc]},
            )
        )

    say(f"{sizes.batch}-image batch alone…")
    archive = zip_of([small_images[i % len(small_images)] for i in range(sizes.batch)])
    alone = api.run_batch(archive, poll_s=0.5)
    say(f"the same batch with {sizes.clinicians} clinicians browsing…")
    loaded, clinicians = batch_while_browsing(api, archive, clinicians=sizes.clinicians)
    latencies = [x for c in clinicians for x in c.latencies]
    errors = [e for c in clinicians for e in c.errors]
    unloaded = big["list"] + big["history"]
    p95 = percentile(latencies, 95)
    rate_alone = alone["done"] / alone["total_s"]
    rate_loaded = loaded["done"] / loaded["total_s"]
    figures += [
        Figure(
            figure=f"5 {sizes.clinicians} clinicians browsing during a {sizes.batch}-image batch: p95",
            ours=f"{p95 * 1000:.0f} ms, {len(errors)} errors / {len(latencies)} requests",
            baseline=f"{percentile(unloaded, 95) * 1000:.0f} ms (same endpoints, one client, no batch)",
            ratio=p95 / percentile(unloaded, 95),
            target="≤ 200 ms, 0 errors",
            met=p95 <= 0.200 and not errors,
            note=f"p50 {percentile(latencies, 50) * 1000:.0f} ms; errors: {sorted(set(errors))[:3]}",
            data={"p50_s": percentile(latencies, 50), "p95_s": p95, "requests": len(latencies), "errors": errors[:50]},
        ),
        Figure(
            figure=f"5 batch rate while {sizes.clinicians} clinicians browse",
            ours=f"{rate_loaded:.2f} img/s",
            baseline=f"{rate_alone:.2f} img/s alone",
            ratio=rate_loaded / rate_alone,
            target="≥ 0.7×",
            met=rate_loaded / rate_alone >= 0.7,
            note=f"upload+validation {loaded['upload_s']:.0f}s loaded vs {alone['upload_s']:.0f}s alone",
            data={"alone": alone, "loaded": loaded},
        ),
    ]
    return figures
