"""Follow-up comparison of a lesion's visits (issue #14 item 4), through the API on real PostgreSQL: two
visits side by side, the change, the interval and the upward crossing of the threshold, and the worklist's
mark for a lesion whose latest visit crossed it."""

import datetime as dt

import pytest
from django.utils import timezone

from classifier.models import Prediction
from portal.audit.models import AuditEvent, Outcome
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _visit(lesion, version, *, probability, days_ago, status=Prediction.Status.DONE) -> Prediction:
    """An image of the lesion taken `days_ago` days ago and its result, decided on the version's threshold."""
    image = LesionImageFactory(lesion=lesion, captured_at=NOW - dt.timedelta(days=days_ago))
    done = status == Prediction.Status.DONE
    return Prediction.objects.create(
        image=image,
        model_version=version,
        image_sha256=image.sha256,
        status=status,
        melanoma_probability=probability if done else None,
        risk_category=("refer" if probability >= version.threshold else "routine") if done else "",
        threshold=version.threshold if done else None,
        finished_at=NOW - dt.timedelta(days=days_ago) if done else None,
    )


def _lesion(clinic):
    return LesionFactory(patient=PatientFactory(clinic=clinic))


def _compare(api, lesion, *images):
    query = "&".join(f"images={i}" for i in images)
    return api.get(f"/api/v1/lesions/{lesion.pk}/comparison/" + (f"?{query}" if query else ""))


def test_by_default_the_two_latest_visits_are_compared_the_earlier_first_with_the_change_and_the_interval(
    as_user, alice, clinic_a
):
    version = ModelVersionFactory(threshold=0.5)
    lesion = _lesion(clinic_a)
    _visit(lesion, version, probability=0.2, days_ago=100)
    earlier = _visit(lesion, version, probability=0.3, days_ago=40)
    later = _visit(lesion, version, probability=0.6, days_ago=10)

    response = _compare(as_user(alice), lesion)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["earlier"]["image_id"] == earlier.image_id
    assert body["later"]["image_id"] == later.image_id
    assert body["earlier"]["prediction"]["melanoma_probability"] == 0.3
    assert body["later"]["prediction"]["melanoma_probability"] == 0.6
    assert body["earlier"]["prediction"]["threshold"] == body["later"]["prediction"]["threshold"] == 0.5
    assert (body["earlier"]["prediction"]["risk_category"], body["later"]["prediction"]["risk_category"]) == (
        "routine",
        "refer",
    )
    assert body["later"]["prediction"]["model_version"]["id"] == version.pk
    assert body["probability_change"] == pytest.approx(0.3)
    assert body["days_between"] == 30
    assert body["crossed_threshold_upward"] is True
    assert len(body["visits"]) == 3
    assert [v["image_id"] for v in body["visits"][:2]] == [later.image_id, earlier.image_id]
    assert body["later"]["file_url"] == f"/api/v1/images/{later.image_id}/file/"


# (earlier probability, its threshold), (later probability, its threshold), crossed upward?
CROSSINGS = [
    ((0.2, 0.5), (0.9, 0.5), True),
    ((0.49, 0.5), (0.5, 0.5), True),  # the later exactly at its threshold: refer, so crossed
    ((0.5, 0.5), (0.9, 0.5), False),  # the earlier exactly at its threshold was refer already
    ((0.49, 0.5), (0.499, 0.5), False),  # rose, but still below
    ((0.9, 0.5), (0.2, 0.5), False),  # fell: crossed downward, which is not flagged
    ((0.5, 0.5), (0.49, 0.5), False),  # fell from exactly at the threshold
    ((0.25, 0.3), (0.6, 0.7), False),  # each side on its own version's threshold: 0.6 is below 0.7
    ((0.35, 0.4), (0.35, 0.3), True),  # the same probability, below the old threshold, at/above the new one
]


@pytest.mark.parametrize(("before", "after", "crossed"), CROSSINGS)
def test_the_threshold_is_crossed_upward_only_from_below_its_own_to_at_or_above_its_own(
    as_user, alice, clinic_a, before, after, crossed
):
    lesion = _lesion(clinic_a)
    old_version = ModelVersionFactory(threshold=before[1], is_active=False)
    first = _visit(lesion, old_version, probability=before[0], days_ago=20)
    second = _visit(lesion, ModelVersionFactory(threshold=after[1]), probability=after[0], days_ago=5)
    api = as_user(alice)

    body = _compare(api, lesion).json()
    chosen = _compare(api, lesion, second.image_id, first.image_id).json()  # chosen in the other order
    row = api.get("/api/v1/worklist/", {"filter": "unreviewed"}).json()["results"]

    assert body["crossed_threshold_upward"] is crossed
    assert chosen["crossed_threshold_upward"] is crossed
    assert (chosen["earlier"]["image_id"], chosen["later"]["image_id"]) == (first.image_id, second.image_id)
    assert body["probability_change"] == pytest.approx(after[0] - before[0])
    assert body["days_between"] == 15
    assert [r["crossed_threshold_upward"] for r in row] == [crossed]  # the worklist's mark agrees


def test_two_chosen_visits_are_compared_whatever_their_order_and_a_rerun_replaces_a_visits_result(
    as_user, alice, clinic_a
):
    version = ModelVersionFactory(threshold=0.5)
    lesion = _lesion(clinic_a)
    oldest = _visit(lesion, version, probability=0.1, days_ago=365)
    _visit(lesion, version, probability=0.7, days_ago=30)
    newest = _visit(lesion, version, probability=0.4, days_ago=1)
    rerun = Prediction.objects.create(
        image=oldest.image, model_version=ModelVersionFactory(threshold=0.05, is_active=False),
        image_sha256=oldest.image.sha256,
        status=Prediction.Status.DONE, melanoma_probability=0.15, risk_category="refer", threshold=0.05,
        finished_at=NOW,
    )  # fmt: skip

    body = _compare(as_user(alice), lesion, newest.image_id, oldest.image_id).json()

    assert body["earlier"]["prediction"]["id"] == rerun.pk
    assert body["later"]["prediction"]["id"] == newest.pk
    assert body["days_between"] == 364
    assert body["probability_change"] == pytest.approx(0.25)
    assert body["crossed_threshold_upward"] is False  # the rerun was refer already
    assert len(body["visits"]) == 3  # one per image, not per result


def test_bad_choices_are_a_400_naming_the_parameter_and_a_single_visit_is_a_409(as_user, alice, clinic_a):
    version = ModelVersionFactory(threshold=0.5)
    lesion = _lesion(clinic_a)
    a = _visit(lesion, version, probability=0.2, days_ago=20)
    b = _visit(lesion, version, probability=0.3, days_ago=10)
    queued = _visit(lesion, version, probability=0.0, days_ago=1, status=Prediction.Status.QUEUED)
    elsewhere = _visit(_lesion(clinic_a), version, probability=0.4, days_ago=3)
    api = as_user(alice)

    for images in [(a.image_id,), (a.image_id, a.image_id), (a.image_id, b.image_id, queued.image_id)]:
        response = _compare(api, lesion, *images)
        assert response.status_code == 400, images
        assert "images" in response.json()["fields"]
    for images in [(a.image_id, queued.image_id), (a.image_id, elsewhere.image_id), (a.image_id, 2_000_000_000)]:
        response = _compare(api, lesion, *images)
        assert (response.status_code, response.json()["code"]) == (400, "not_a_visit"), images
        assert "images" in response.json()["fields"]
    assert api.get(f"/api/v1/lesions/{lesion.pk}/comparison/?images=x&images=y").status_code == 400

    single = _lesion(clinic_a)
    _visit(single, version, probability=0.2, days_ago=2)
    response = _compare(api, single)
    assert (response.status_code, response.json()["code"]) == (409, "not_enough_visits")


def test_the_comparison_is_audited_and_another_clinics_lesion_or_image_shows_nothing(
    as_user, alice, clinic_a, charlie, clinic_b
):
    version = ModelVersionFactory(threshold=0.5)
    theirs = _lesion(clinic_a)
    their_visit = _visit(theirs, version, probability=0.2, days_ago=20)
    _visit(theirs, version, probability=0.8, days_ago=2)
    mine = _lesion(clinic_b)
    my_visit = _visit(mine, version, probability=0.3, days_ago=9)
    _visit(mine, version, probability=0.35, days_ago=4)

    assert _compare(as_user(alice), theirs).status_code == 200
    read = AuditEvent.objects.get(user_id=alice.pk, object_type="lesion_comparison")
    assert (read.object_id, read.patient_id) == (str(theirs.pk), theirs.patient_id)

    api = as_user(charlie)
    response = _compare(api, theirs)
    assert response.status_code == 404
    assert AuditEvent.objects.filter(
        user_id=charlie.pk, object_type="lesion", object_id=str(theirs.pk), outcome=Outcome.DENIED
    ).exists()
    # Clinic A's image on charlie's own lesion answers as a missing image does, word for word.
    foreign = _compare(api, mine, my_visit.image_id, their_visit.image_id)
    missing = _compare(api, mine, my_visit.image_id, 2_000_000_000)
    assert foreign.status_code == 400
    assert foreign.json()["message"].replace(str(their_visit.image_id), "?") == missing.json()["message"].replace(
        "2000000000", "?"
    )


def test_the_worklist_marks_a_lesion_whose_latest_visit_crossed_and_keeps_its_order(as_user, alice, clinic_a):
    version = ModelVersionFactory(threshold=0.5)
    crossed = _lesion(clinic_a)
    _visit(crossed, version, probability=0.3, days_ago=60)
    _visit(crossed, version, probability=0.55, days_ago=1)
    steady = _lesion(clinic_a)
    _visit(steady, version, probability=0.7, days_ago=60)
    _visit(steady, version, probability=0.9, days_ago=1)
    crossed_before = _lesion(clinic_a)  # crossed at the visit before the latest: not marked now
    _visit(crossed_before, version, probability=0.1, days_ago=90)
    _visit(crossed_before, version, probability=0.6, days_ago=60)
    _visit(crossed_before, version, probability=0.65, days_ago=1)
    once = _lesion(clinic_a)  # one visit: nothing to compare
    _visit(once, version, probability=0.95, days_ago=1)

    rows = as_user(alice).get("/api/v1/worklist/").json()["results"]

    assert [r["lesion_id"] for r in rows] == [once.pk, steady.pk, crossed_before.pk, crossed.pk]
    assert {r["lesion_id"]: r["crossed_threshold_upward"] for r in rows} == {
        once.pk: False, steady.pk: False, crossed_before.pk: False, crossed.pk: True,
    }  # fmt: skip
