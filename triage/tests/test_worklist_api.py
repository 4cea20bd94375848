import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from classifier.models import Prediction
from portal.audit.models import AuditEvent, Outcome
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory
from triage.models import Review

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _result(clinic, version, *, probability, minutes_ago=0, lesion=None, status=Prediction.Status.DONE):
    """An analysed image (a new lesion unless one is given) whose result came `minutes_ago` ago."""
    lesion = lesion or LesionFactory(patient=PatientFactory(clinic=clinic))
    image = LesionImageFactory(lesion=lesion)
    Prediction.objects.create(
        image=image,
        model_version=version,
        image_sha256=image.sha256,
        status=status,
        melanoma_probability=probability if status == Prediction.Status.DONE else None,
        risk_category=("refer" if probability >= version.threshold else "routine")
        if status == Prediction.Status.DONE
        else "",
        threshold=version.threshold,
        finished_at=NOW - dt.timedelta(minutes=minutes_ago),
    )
    return lesion


def test_the_worklist_puts_refer_first_then_probability_then_the_longest_wait(as_user, alice, clinic_a):
    version = ModelVersionFactory(threshold=0.5)
    routine_high = _result(clinic_a, version, probability=0.45)
    refer_old = _result(clinic_a, version, probability=0.7, minutes_ago=90)
    refer_new = _result(clinic_a, version, probability=0.7, minutes_ago=5)
    refer_top = _result(clinic_a, version, probability=0.95)
    routine_low = _result(clinic_a, version, probability=0.05)
    # Decided on a lower threshold (another version, or a clinic's operating point): refer below a routine.
    refer_low = _result(clinic_a, ModelVersionFactory(threshold=0.2, is_active=False), probability=0.3)
    _result(clinic_a, version, probability=0.0, status=Prediction.Status.QUEUED)  # not analysed: not listed

    body = as_user(alice).get("/api/v1/worklist/").json()

    order = [row["lesion_id"] for row in body["results"]]
    assert order == [refer_top.pk, refer_old.pk, refer_new.pk, refer_low.pk, routine_high.pk, routine_low.pk]
    assert body["results"][0]["prediction"]["risk_category"] == "refer"
    assert body["results"][0]["patient"]["id"] == refer_top.patient_id


def test_a_lesion_is_listed_once_with_its_newest_images_result(as_user, alice, clinic_a):
    version = ModelVersionFactory(threshold=0.5)
    lesion = _result(clinic_a, version, probability=0.9)
    _result(clinic_a, version, probability=0.2, lesion=lesion)  # a later visit: now routine

    rows = as_user(alice).get("/api/v1/worklist/").json()["results"]

    assert len(rows) == 1
    assert rows[0]["prediction"]["melanoma_probability"] == 0.2
    assert rows[0]["image_id"] == lesion.images.order_by("-uploaded_at", "-id").first().pk


def test_the_refer_filter_and_the_counts_agree(as_user, alice, clinic_a, charlie, clinic_b):
    version = ModelVersionFactory(threshold=0.5)
    for probability in (0.9, 0.8, 0.1):
        _result(clinic_a, version, probability=probability)
    _result(clinic_b, version, probability=0.99)  # another clinic's: never counted
    api = as_user(alice)

    refer = api.get("/api/v1/worklist/", {"filter": "refer"}).json()
    counts = api.get("/api/v1/worklist/counts/").json()

    assert [row["prediction"]["risk_category"] for row in refer["results"]] == ["refer", "refer"]
    assert counts == {
        "unreviewed": 3, "refer": 2, "awaiting_second_read": 0, "disagreement": 0, "follow_up_due": 0,
        "awaiting_biopsy": 0,
    }  # fmt: skip


def test_an_unknown_filter_is_a_400_naming_the_parameter(as_user, alice):
    response = as_user(alice).get("/api/v1/worklist/", {"filter": "everything"})
    assert response.status_code == 400
    assert "filter" in response.json()["fields"]


def test_another_clinics_lesions_never_show_and_their_item_is_a_404(as_user, alice, clinic_a, charlie, clinic_b):
    version = ModelVersionFactory(threshold=0.5)
    theirs = _result(clinic_b, version, probability=0.99)
    _result(clinic_a, version, probability=0.4)

    rows = as_user(alice).get("/api/v1/worklist/").json()["results"]
    item = as_user(alice).get(f"/api/v1/worklist/lesions/{theirs.pk}/")

    assert theirs.pk not in [row["lesion_id"] for row in rows]
    assert item.status_code == 404
    assert AuditEvent.objects.filter(object_id=str(theirs.pk), outcome=Outcome.DENIED).exists()


def test_opening_an_item_shows_every_image_and_result_and_next_walks_the_queue(as_user, alice, clinic_a):
    version = ModelVersionFactory(threshold=0.5)
    first = _result(clinic_a, version, probability=0.9, minutes_ago=30)
    _result(clinic_a, version, probability=0.95, lesion=first, minutes_ago=10)  # second visit
    second = _result(clinic_a, version, probability=0.6)
    third = _result(clinic_a, version, probability=0.1)
    api = as_user(alice)

    walked, lesion_id = [], first.pk
    while lesion_id is not None:
        body = api.get(f"/api/v1/worklist/lesions/{lesion_id}/").json()
        walked.append(body["id"])
        lesion_id = body["next_lesion_id"]
        if body["id"] == first.pk:
            assert len(body["images"]) == 2  # the earlier visit too
            assert [img["predictions"][0]["melanoma_probability"] for img in body["images"]] == [0.95, 0.9]
            assert body["patient"]["id"] == first.patient_id

    assert walked == [first.pk, second.pk, third.pk]
    refer_only = api.get(f"/api/v1/worklist/lesions/{first.pk}/", {"filter": "refer"}).json()
    assert refer_only["next_lesion_id"] == second.pk
    assert api.get(f"/api/v1/worklist/lesions/{second.pk}/", {"filter": "refer"}).json()["next_lesion_id"] is None


def test_every_worklist_read_is_audited(as_user, alice, clinic_a):
    version = ModelVersionFactory(threshold=0.5)
    lesion = _result(clinic_a, version, probability=0.9)
    api = as_user(alice)

    api.get("/api/v1/worklist/")
    api.get("/api/v1/worklist/counts/")
    api.get(f"/api/v1/worklist/lesions/{lesion.pk}/")

    audited = set(AuditEvent.objects.filter(user_id=alice.pk).values_list("object_type", flat=True))
    assert {"worklist", "worklist_counts", "worklist_item"} <= audited
    item = AuditEvent.objects.get(object_type="worklist_item")
    assert item.patient_id == lesion.patient_id


def _queries(api, url):
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def _disagreeing_reads(lesion, reader):
    """Signed reads of the lesion's newest result that disagree, with a follow-up that has come, the later
    deciding an excision: a row in every review filter."""
    latest = Prediction.objects.filter(image__lesion=lesion).order_by("-image__uploaded_at", "-id").first()
    for kind, assessment, management in (("first", "benign", "routine_follow_up"), ("second", "malignant", "excise")):
        Review.objects.create(
            clinic=lesion.patient.clinic, prediction=latest, reader=reader, kind=kind, assessment=assessment,
            management=management, follow_up_date=NOW.date() if management == "routine_follow_up" else None,
            agrees_with_model=False, model_risk="refer", needs_second_read=True,
            signed_at=NOW + dt.timedelta(seconds=1 if kind == "second" else 0),
        )  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/worklist/",
        "/api/v1/worklist/?filter=disagreement",
        "/api/v1/worklist/?filter=follow_up_due",
        "/api/v1/worklist/?filter=awaiting_biopsy",
        "/api/v1/worklist/counts/",
        "/api/v1/worklist/lesions/{lesion}/",
    ],
)
def test_the_worklist_costs_the_same_queries_at_two_data_sizes(as_user, alice, clinic_a, url, settings):
    # What computing the counts costs (the cached counts are their own test, below).
    settings.NAEVUS_WORKLIST_COUNTS_TTL = 0
    version = ModelVersionFactory(threshold=0.5)
    lesion = _result(clinic_a, version, probability=0.9)
    if "filter=" in url:
        _disagreeing_reads(lesion, alice)  # a row in the review filters at the small size too
    api = as_user(alice)
    url = url.format(lesion=lesion.pk)
    _queries(api, url)  # warm: session, audit chain head
    small = _queries(api, url)

    for i in range(15):
        other = _result(clinic_a, version, probability=i / 15, minutes_ago=i)
        _result(clinic_a, version, probability=0.5, lesion=other)
        _disagreeing_reads(other, alice)
    for _ in range(4):
        _result(clinic_a, version, probability=0.3, lesion=lesion)

    assert _queries(api, url) == small


def _scan_of(plan: str, table: str) -> list[str]:
    """The lines of an EXPLAIN plan that describe the scan of `table` (its node and its conditions)."""
    lines = plan.splitlines()
    start = next(i for i, line in enumerate(lines) if f" on {table} " in line)
    end = next((i for i in range(start + 1, len(lines)) if "->" in lines[i]), len(lines))
    return lines[start:end]


@pytest.mark.parametrize(
    ("sort", "index"), [("risk", "prediction_worklist_state"), ("outlier", "prediction_worklist_outlier")]
)
@pytest.mark.parametrize("kind", ["unreviewed", "refer", "awaiting_second_read", "disagreement"])
def test_a_page_of_the_queue_is_read_in_index_order_not_sorted(alice, clinic_a, kind, sort, index):
    """The queue's ORDER BY and filters must stay the expressions its partial indexes are built on
    (classifier.models): otherwise PostgreSQL sorts every current result of the clinic per page (bench/api_load.py).
    With sequential scans and sorts priced out, a servable plan reads the index and has no Sort node."""
    from triage.selectors import WorklistFilter, WorklistSort, worklist_list

    version = ModelVersionFactory(threshold=0.5)
    for probability in (0.9, 0.3):
        lesion = _result(clinic_a, version, probability=probability)
    _disagreeing_reads(lesion, alice)
    if kind == "awaiting_second_read":  # the second read withdrawn: the first waits for one
        Review.objects.filter(prediction__image__lesion=lesion, kind="second").delete()
    queue = worklist_list(user=alice, kind=WorklistFilter(kind), sort=WorklistSort(sort)).queue
    with CaptureQueriesContext(connection) as captured:
        assert queue.count() == 1  # what the paginator runs
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        plan = queue[:25].explain()
        # On a table this small an index on the clinic alone costs what the queue's costs, and which one a count
        # uses is a tie decided by earlier tests' statistics: the other non-unique indexes are dropped for the
        # count's plan (inside the test's transaction, rolled back with it), so it shows whether the queue's index
        # serves it. At 40,000 lesions the planner picks it (bench/api_load.py's data, checked with EXPLAIN).
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisunique "
            "AND i.indrelid = 'classifier_prediction'::regclass AND c.relname NOT LIKE 'prediction_worklist_%%'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(f"EXPLAIN {captured.captured_queries[-1]['sql']}")
        count_plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan and "Sort" not in plan, plan
    assert "using prediction_worklist_" in count_plan and "records_lesionimage" not in count_plan, count_plan
    # Every condition on the result itself is answered by the index, none re-checked row by row from the table.
    assert not [line for line in _scan_of(count_plan, "classifier_prediction") if "Filter:" in line], count_plan


def test_the_counts_are_cached_per_clinic_and_every_change_through_the_product_renews_them(
    as_user, alice, clinic_a, clinic_b
):
    """The counts (and a page's total) come from a per-clinic cache entry: a change made around the product (a
    raw update) is not seen, and each kind of change the product makes is seen at the next request."""
    from classifier.inference.engine import Result
    from classifier.services import prediction_store_result
    from portal.core.clinic_changes import clinic_stamp

    version = ModelVersionFactory(threshold=0.5)
    first = _result(clinic_a, version, probability=0.9)
    second = _result(clinic_a, version, probability=0.2)
    api = as_user(alice)

    def counts():
        return api.get("/api/v1/worklist/counts/").json()

    assert counts()["unreviewed"] == 2
    # Around the product: the cached entry answers, for the counts and for the page's total alike.
    Prediction.objects.filter(image__lesion=second).update(lesion_latest=False)
    assert counts()["unreviewed"] == 2
    assert api.get("/api/v1/worklist/").json()["count"] == 2
    Prediction.objects.filter(image__lesion=second).update(lesion_latest=True)

    # Another clinic's change leaves this clinic's entry alone.
    stamp = clinic_stamp(clinic_a.pk)
    _result(clinic_b, version, probability=0.99)
    assert clinic_stamp(clinic_a.pk) == stamp

    # A result stored by the worker's service (a queryset update: no model signal), a refer.
    running = Prediction.objects.create(
        image=LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=clinic_a))),
        model_version=version,
        status=Prediction.Status.RUNNING,
    )
    assert counts()["unreviewed"] == 2
    assert prediction_store_result(prediction=running, result=Result(raw_score=0.0, probability=0.8))
    stored = counts()
    assert (stored["unreviewed"], stored["refer"]) == (3, 2)
    assert api.get("/api/v1/worklist/?filter=refer").json()["count"] == 2

    # A review signed through the API takes its lesion out of "unreviewed".
    prediction = Prediction.objects.get(image__lesion=first, lesion_latest=True)
    draft = api.post(
        f"/api/v1/predictions/{prediction.pk}/reviews/", {"assessment": "benign", "management": "excise"}, format="json"
    ).json()
    assert api.post(f"/api/v1/reviews/{draft['id']}/sign/").status_code == 200
    after_review = counts()
    assert after_review["unreviewed"] == 2
    assert after_review["awaiting_biopsy"] == 1

    # An outcome recorded through the API ends the wait for the biopsy.
    recorded = api.post(
        f"/api/v1/lesions/{first.pk}/outcomes/",
        {"diagnosis": "nevus", "benign_malignant": "benign", "date": NOW.date().isoformat()},
    )
    assert recorded.status_code == 201, recorded.content
    assert counts()["awaiting_biopsy"] == 0

    # A patient deleted (as the admin does: the ORM, its cascade's signals) takes their lesion's row away.
    second.patient.delete()
    assert counts()["unreviewed"] == 1


def test_with_the_cache_down_results_are_still_stored_and_the_counts_still_answer(as_user, alice, clinic_a, settings):
    from classifier.inference.engine import Result
    from classifier.services import prediction_store_result

    version = ModelVersionFactory(threshold=0.5)
    _result(clinic_a, version, probability=0.9)
    running = Prediction.objects.create(
        image=LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=clinic_a))),
        model_version=version,
        status=Prediction.Status.RUNNING,
    )
    api = as_user(alice)  # signs in while the cache is up (sign-in counts failures in it)
    # A Redis that is not there (port 9: nothing listens): every cache call raises.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }

    assert prediction_store_result(prediction=running, result=Result(raw_score=0.0, probability=0.2))
    response = api.get("/api/v1/worklist/counts/")

    assert response.status_code == 200, response.content
    assert response.json()["unreviewed"] == 2


def test_the_state_the_queues_read_is_stored_on_the_result_by_every_change_of_its_reads_or_outcomes(alice, clinic_a):
    """The queues read `Prediction.review_state`, `.follow_up_due_on` and `.biopsy_pending` (triage/reviews.py):
    stored again at every save and delete of a review or an outcome, whatever wrote it (here the ORM directly, as
    the admin or a shell would), and carried to a lesion's new current result."""
    from portal.records.models import Outcome as ClinicalOutcome
    from triage.reviews import current_reviews, state_of

    version = ModelVersionFactory(threshold=0.5)
    lesion = _result(clinic_a, version, probability=0.9)

    def stored():
        row = Prediction.objects.get(image__lesion=lesion, lesion_latest=True)
        reads = list(current_reviews().filter(prediction=row))
        assert row.review_state == state_of(reads)  # the one definition, in Python
        return row.review_state, row.follow_up_due_on, row.biopsy_pending

    assert stored() == ("unreviewed", None, False)
    _disagreeing_reads(lesion, alice)  # first: benign, follow-up today; second: malignant, excise
    assert stored() == ("disagreement", NOW.date(), True)
    Review.objects.filter(prediction__image__lesion=lesion, kind="second").delete()
    assert stored() == ("awaiting_second_read", NOW.date(), False)  # the latest signed read is a follow-up now

    _disagreeing_reads(lesion, alice)
    outcome = ClinicalOutcome.objects.create(lesion=lesion, diagnosis="nevus", benign_malignant="benign", date=NOW)
    assert stored()[2] is False  # answered
    outcome.delete()
    assert stored()[2] is True
    _result(clinic_a, version, probability=0.2, lesion=lesion, minutes_ago=-5)  # a new visit: a new current result
    assert stored() == ("unreviewed", None, True)  # its reads are its own; the lesion still awaits its biopsy


def test_a_result_or_lesion_saved_whole_keeps_the_state_stored_meanwhile(alice, clinic_a):
    """The admin's change form saves a row it loaded a moment earlier: the columns triage keeps (stored under a
    lock whenever reads or outcomes change) are left as stored, the rest saved."""
    from portal.records.models import Lesion

    version = ModelVersionFactory(threshold=0.5)
    lesion = _result(clinic_a, version, probability=0.9)
    stale_lesion = Lesion.objects.get(pk=lesion.pk)
    stale_result = Prediction.objects.get(image__lesion=lesion)
    _disagreeing_reads(lesion, alice)  # stored meanwhile: disagreement, due today, biopsy pending

    stale_lesion.label = "left scapula"
    stale_lesion.save()
    stale_result.attempts = 2
    stale_result.save()

    lesion.refresh_from_db()
    result = Prediction.objects.get(pk=stale_result.pk)
    assert (lesion.label, lesion.biopsy_pending) == ("left scapula", True)
    assert (result.attempts, result.review_state, result.follow_up_due_on, result.biopsy_pending) == (
        2, "disagreement", NOW.date(), True
    )  # fmt: skip
