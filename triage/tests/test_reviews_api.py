"""Signed reviews and the second reader (issue #14 items 2 and 3), through the API on real PostgreSQL:
alice and bob read clinic A's results, erin is clinic A's third clinician, dora its clinic admin."""

import datetime as dt

import pytest
from django.utils import timezone

from classifier.models import Prediction
from portal.audit.models import AuditEvent
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory
from triage.models import Review, ReviewPolicy
from triage.reviews import model_agrees, share_draw

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture
def erin(clinic_a):
    from portal.accounts.services import clinician_create

    return clinician_create(
        clinic=clinic_a, username="erin", password="correct horse battery", email="erin@example.org"
    )


@pytest.fixture
def version(db):
    return ModelVersionFactory(threshold=0.5)


def _result(clinic, version, *, probability, lesion=None) -> Prediction:
    lesion = lesion or LesionFactory(patient=PatientFactory(clinic=clinic))
    image = LesionImageFactory(lesion=lesion)
    return Prediction.objects.create(
        image=image,
        model_version=version,
        image_sha256=image.sha256,
        status=Prediction.Status.DONE,
        melanoma_probability=probability,
        risk_category="refer" if probability >= version.threshold else "routine",
        threshold=version.threshold,
        finished_at=timezone.now(),
    )


def _read(api, prediction, *, sign=True, **body):
    body = {"assessment": "suspicious", "management": "excise"} | body
    response = api.post(f"/api/v1/predictions/{prediction.pk}/reviews/", body, format="json")
    assert response.status_code == 201, response.content
    review = response.json()
    if sign:
        signed = api.post(f"/api/v1/reviews/{review['id']}/sign/")
        assert signed.status_code == 200, signed.content
        review = signed.json()
    return review


def _lesions(api, kind):
    return [row["lesion_id"] for row in api.get("/api/v1/worklist/", {"filter": kind}).json()["results"]]


def test_a_draft_is_edited_then_signed_and_a_signed_review_refuses_every_change(client_for, alice, clinic_a, version):
    prediction = _result(clinic_a, version, probability=0.9)
    api = client_for(alice)
    draft = _read(api, prediction, sign=False, assessment="benign", management="discharge")
    assert (draft["kind"], draft["signed"]) == ("first", False)

    edited = api.patch(f"/api/v1/reviews/{draft['id']}/", {"assessment": "malignant", "management": "urgent_referral"})
    assert edited.status_code == 200 and edited.json()["assessment"] == "malignant"
    signed = api.post(f"/api/v1/reviews/{draft['id']}/sign/").json()
    assert signed["signed"] and signed["is_current"]

    refused = api.patch(f"/api/v1/reviews/{draft['id']}/", {"notes": "changed my mind"}, format="json")
    resigned = api.post(f"/api/v1/reviews/{draft['id']}/sign/")
    assert (refused.status_code, refused.json()["code"]) == (409, "signed")
    assert resigned.status_code == 409
    stored = Review.objects.get(pk=draft["id"])
    assert (stored.assessment, stored.notes, stored.signed_at.isoformat().replace("+00:00", "Z")) == (
        "malignant",
        "",
        signed["signed_at"],
    )
    audited = list(
        AuditEvent.objects.filter(object_id=str(draft["id"]))
        .order_by("id")
        .values_list("object_type", "action", "outcome")
    )
    assert audited == [
        ("review", "C", "ok"),
        ("review", "U", "ok"),
        ("review_sign", "E", "ok"),
        ("review", "U", "denied"),
        ("review", "E", "denied"),
    ]
    assert set(AuditEvent.objects.filter(object_id=str(draft["id"])).values_list("patient_id", flat=True)) == {
        prediction.image.lesion.patient_id
    }


@pytest.mark.parametrize(
    ("probability", "assessment", "agrees"),
    [(0.9, "malignant", True), (0.9, "suspicious", True), (0.9, "benign", False), (0.1, "benign", True),
     (0.1, "suspicious", False), (0.1, "malignant", False)],
)  # fmt: skip
def test_agreement_with_the_model_is_derived_from_its_risk_and_the_assessment_never_typed(
    client_for, alice, clinic_a, version, probability, assessment, agrees
):
    prediction = _result(clinic_a, version, probability=probability)
    typed = {"agrees_with_model": not agrees, "management": "discharge"}
    review = _read(client_for(alice), prediction, sign=False, assessment=assessment, **typed)
    assert review["agrees_with_model"] is agrees
    assert model_agrees(risk=prediction.risk_category, assessment=assessment) is agrees


@pytest.mark.parametrize(
    ("management", "date", "ok"),
    [("routine_follow_up", None, False), ("short_term_monitoring", None, False),
     ("short_term_monitoring", "past", False), ("routine_follow_up", "future", True),
     ("discharge", "future", False), ("excise", None, True)],
)  # fmt: skip
def test_follow_up_decisions_need_a_date_to_come_and_no_other_decision_has_one(
    client_for, alice, clinic_a, version, management, date, ok
):
    prediction = _result(clinic_a, version, probability=0.2)
    dates = {None: None, "past": TODAY - dt.timedelta(days=1), "future": TODAY + dt.timedelta(days=30)}
    body = {"assessment": "benign", "management": management, "follow_up_date": dates[date]}
    response = client_for(alice).post(f"/api/v1/predictions/{prediction.pk}/reviews/", body, format="json")
    assert response.status_code == (201 if ok else 400), response.content
    if not ok:
        assert "follow_up_date" in response.json()["fields"]


def test_an_amendment_is_a_new_signed_version_and_the_old_one_is_kept_unchanged(
    client_for, alice, bob, clinic_a, version
):
    ReviewPolicy.objects.create(clinic=clinic_a, second_read_refer=False, second_read_disagreement=False)
    prediction = _result(clinic_a, version, probability=0.2)
    api = client_for(alice)
    original = _read(api, prediction, assessment="benign", management="discharge", notes="flat, regular")
    before = Review.objects.filter(pk=original["id"]).values().get()

    response = api.post(
        f"/api/v1/reviews/{original['id']}/amend/",
        {"assessment": "suspicious", "management": "short_term_monitoring", "follow_up_date": str(TODAY)},
        format="json",
    )

    assert response.status_code == 201, response.content
    amendment = response.json()
    assert (amendment["supersedes"], amendment["signed"], amendment["kind"]) == (original["id"], True, "first")
    assert Review.objects.filter(pk=original["id"]).values().get() == before
    listed = {
        r["id"]: r["is_current"] for r in api.get(f"/api/v1/predictions/{prediction.pk}/reviews/").json()["reviews"]
    }
    assert listed == {original["id"]: False, amendment["id"]: True}
    again = api.post(f"/api/v1/reviews/{original['id']}/amend/", {"assessment": "benign", "management": "discharge"})
    assert again.status_code == 409
    by_bob = client_for(bob).post(
        f"/api/v1/reviews/{amendment['id']}/amend/", {"assessment": "benign", "management": "excise"}
    )
    assert by_bob.status_code == 403
    assert AuditEvent.objects.filter(object_type="review_amendment", object_id=str(amendment["id"])).exists()
    # The amended decision counts: its follow-up (today) is due.
    assert _lesions(api, "follow_up_due") == [prediction.image.lesion_id]


def test_the_second_reader_reads_blind_and_the_first_reader_cannot_be_the_second(
    client_for, alice, bob, clinic_a, version
):
    prediction = _result(clinic_a, version, probability=0.9)  # refer: the default policy wants a second read
    lesion_id = prediction.image.lesion_id
    first = _read(
        client_for(alice), prediction, assessment="malignant", management="urgent_referral", notes="irregular"
    )
    assert first["needs_second_read"] is True
    api = client_for(bob)

    blind = api.get(f"/api/v1/predictions/{prediction.pk}/reviews/").json()
    assert (blind["state"], blind["withheld"], blind["reviews"]) == ("awaiting_second_read", 1, [])
    assert api.get(f"/api/v1/reviews/{first['id']}/").status_code == 404
    assert b"irregular" not in api.get(f"/api/v1/worklist/lesions/{lesion_id}/").content
    assert _lesions(api, "awaiting_second_read") == [lesion_id]
    assert lesion_id not in _lesions(api, "unreviewed")
    own = client_for(alice).post(
        f"/api/v1/predictions/{prediction.pk}/reviews/", {"assessment": "malignant", "management": "excise"}
    )
    assert (own.status_code, own.json()["code"]) == (409, "same_reader")
    assert client_for(alice).get(f"/api/v1/reviews/{first['id']}/").status_code == 200  # her own read

    second = _read(api, prediction, assessment="malignant", management="urgent_referral")

    assert second["kind"] == "second"
    seen = api.get(f"/api/v1/predictions/{prediction.pk}/reviews/").json()
    assert (seen["state"], seen["withheld"]) == ("complete", 0)
    assert {r["id"] for r in seen["reviews"]} == {first["id"], second["id"]}
    assert _lesions(api, "awaiting_second_read") == []


def test_two_clinicians_cannot_both_sign_the_first_read(client_for, alice, bob, clinic_a, version):
    prediction = _result(clinic_a, version, probability=0.9)
    mine = _read(client_for(alice), prediction, sign=False)
    theirs = _read(client_for(bob), prediction, sign=False)
    assert client_for(alice).get(f"/api/v1/reviews/{theirs['id']}/").status_code == 404  # another's draft

    assert client_for(bob).post(f"/api/v1/reviews/{theirs['id']}/sign/").status_code == 200
    late = client_for(alice).post(f"/api/v1/reviews/{mine['id']}/sign/")

    assert (late.status_code, late.json()["code"]) == (409, "read_taken")
    assert Review.objects.filter(prediction=prediction, kind="first", signed_at__isnull=False).count() == 1


@pytest.mark.parametrize("resolution", ["third", "consensus"])
def test_readers_who_disagree_stay_in_the_disagreement_filter_until_a_third_read_or_a_consensus_note(
    client_for, alice, bob, erin, clinic_a, version, resolution
):
    prediction = _result(clinic_a, version, probability=0.9)
    calm = _result(clinic_a, version, probability=0.95)  # two readers who agree: not a disagreement
    lesion_id = prediction.image.lesion_id
    _read(client_for(alice), prediction, assessment="malignant", management="excise")
    _read(client_for(bob), prediction, assessment="benign", management="discharge")
    _read(client_for(alice), calm, assessment="malignant", management="excise")
    _read(client_for(bob), calm, assessment="malignant", management="excise")
    api = client_for(erin)
    assert _lesions(api, "disagreement") == [lesion_id]
    assert api.get("/api/v1/worklist/counts/").json()["disagreement"] == 1
    assert api.get(f"/api/v1/predictions/{prediction.pk}/reviews/").json()["state"] == "disagreement"
    third_by_alice = client_for(alice).post(
        f"/api/v1/predictions/{prediction.pk}/reviews/", {"assessment": "malignant", "management": "excise"}
    )
    assert third_by_alice.status_code == 409

    if resolution == "third":
        read = _read(api, prediction, assessment="suspicious", management="excise")
    else:
        read = _read(client_for(bob), prediction, assessment="suspicious", management="excise", consensus=True)

    assert read["kind"] == resolution
    assert _lesions(api, "disagreement") == []
    assert api.get(f"/api/v1/predictions/{prediction.pk}/reviews/").json()["state"] == "resolved"


def test_the_clinic_policy_decides_which_first_reads_need_a_second_and_its_share_is_reproducible(
    client_for, alice, clinic_a, version
):
    api = client_for(alice)
    policy = ReviewPolicy.objects.create(clinic=clinic_a, second_read_refer=True, second_read_disagreement=True)
    agreeing_routine = _read(
        api, _result(clinic_a, version, probability=0.1), assessment="benign", management="discharge"
    )
    disagreeing = _read(api, _result(clinic_a, version, probability=0.1), assessment="suspicious")
    assert (agreeing_routine["needs_second_read"], disagreeing["needs_second_read"]) == (False, True)

    policy.second_read_refer = policy.second_read_disagreement = False
    policy.second_read_share = 0.5
    policy.save()
    reads = [
        _read(api, _result(clinic_a, version, probability=0.9), assessment="benign", management="discharge")
        for _ in range(12)
    ]
    drawn = [read["needs_second_read"] for read in reads]
    assert drawn == [share_draw(read["id"]) < 0.5 for read in reads]
    assert 0 < sum(drawn) < len(drawn)  # the share splits: neither all nor none


def test_only_clinicians_of_the_clinic_read_its_results(client_for, alice, clinic_a, version):
    from portal.accounts.services import clinician_create

    dora = clinician_create(
        clinic=clinic_a,
        username="dora",
        password="correct horse battery",
        email="dora@example.org",
        role="clinic_admin",
    )
    prediction = _result(clinic_a, version, probability=0.9)
    response = client_for(dora).post(
        f"/api/v1/predictions/{prediction.pk}/reviews/", {"assessment": "benign", "management": "discharge"}
    )
    assert (response.status_code, response.json()["code"]) == (403, "not_a_clinician")
    assert not Review.objects.exists()


def test_a_follow_up_date_that_has_come_is_due_in_the_worklist_and_a_new_visit_answers_it(
    client_for, alice, clinic_a, version
):
    ReviewPolicy.objects.create(clinic=clinic_a, second_read_refer=False, second_read_disagreement=False)
    api = client_for(alice)
    due = _result(clinic_a, version, probability=0.2)
    later = _result(clinic_a, version, probability=0.2)
    _read(api, due, assessment="benign", management="routine_follow_up", follow_up_date=str(TODAY))
    _read(
        api,
        later,
        assessment="benign",
        management="routine_follow_up",
        follow_up_date=str(TODAY + dt.timedelta(days=1)),
    )

    assert _lesions(api, "follow_up_due") == [due.image.lesion_id]
    assert api.get("/api/v1/worklist/counts/").json()["follow_up_due"] == 1
    assert _lesions(api, "unreviewed") == []

    _result(clinic_a, version, probability=0.3, lesion=due.image.lesion)  # the follow-up visit

    assert _lesions(api, "follow_up_due") == []
    assert _lesions(api, "unreviewed") == [due.image.lesion_id]


def test_the_admin_shows_reviews_read_only(client_for, admin_user, alice, clinic_a, version):
    from django.test import Client

    review = _read(
        client_for(alice), _result(clinic_a, version, probability=0.2), assessment="benign", management="discharge"
    )
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/triage/review/{review['id']}/change/")
    post = client.post(f"/admin/triage/review/{review['id']}/change/", {"assessment": "malignant"})

    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert post.status_code == 403
    assert client.get("/admin/triage/review/add/").status_code == 403
    assert Review.objects.get(pk=review["id"]).assessment == "benign"


def test_another_clinics_signed_review_and_its_results_reads_are_a_404_for_charlie(
    client_for, alice, charlie, clinic_a, version
):
    """The access matrix's review is a draft, hidden from everyone but its reader anyway: a signed one shows
    that the clinic scope itself holds."""
    prediction = _result(clinic_a, version, probability=0.2)
    review = _read(client_for(alice), prediction, assessment="benign", management="discharge", notes="Alder notes")
    api = client_for(charlie)

    responses = [
        api.get(f"/api/v1/reviews/{review['id']}/"),
        api.post(f"/api/v1/reviews/{review['id']}/amend/", {"assessment": "malignant", "management": "excise"}),
        api.get(f"/api/v1/predictions/{prediction.pk}/reviews/"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert not any(b"Alder notes" in r.content for r in responses)
    assert Review.objects.count() == 1


def _outcome(api, lesion_id):
    body = {"diagnosis": "nevus", "benign_malignant": "benign", "date": str(TODAY)}
    response = api.post(f"/api/v1/lesions/{lesion_id}/outcomes/", body, format="json")
    assert response.status_code == 201, response.content


def test_a_signed_excision_or_urgent_referral_awaits_biopsy_until_an_outcome_is_recorded(
    client_for, alice, clinic_a, charlie, clinic_b, version
):
    ReviewPolicy.objects.create(clinic=clinic_a, second_read_refer=False, second_read_disagreement=False)
    api = client_for(alice)
    excise = _result(clinic_a, version, probability=0.9)
    urgent = _result(clinic_a, version, probability=0.8)
    discharged = _result(clinic_a, version, probability=0.7)
    monitored = _result(clinic_a, version, probability=0.6)
    drafted = _result(clinic_a, version, probability=0.55)
    _result(clinic_a, version, probability=0.95)  # not reviewed at all
    _read(api, excise, management="excise")
    _read(api, urgent, assessment="malignant", management="urgent_referral")
    _read(api, discharged, assessment="benign", management="discharge")
    _read(api, monitored, management="short_term_monitoring", follow_up_date=str(TODAY + dt.timedelta(days=90)))
    _read(api, drafted, management="excise", sign=False)
    theirs = _result(clinic_b, version, probability=0.99)
    _read(client_for(charlie), theirs, management="excise")

    assert _lesions(api, "awaiting_biopsy") == [excise.image.lesion_id, urgent.image.lesion_id]
    assert api.get("/api/v1/worklist/counts/").json()["awaiting_biopsy"] == 2
    assert _lesions(client_for(charlie), "awaiting_biopsy") == [theirs.image.lesion_id]

    _outcome(api, excise.image.lesion_id)

    assert _lesions(api, "awaiting_biopsy") == [urgent.image.lesion_id]
    assert api.get("/api/v1/worklist/counts/").json()["awaiting_biopsy"] == 1
    first = api.get(f"/api/v1/worklist/lesions/{urgent.image.lesion_id}/", {"filter": "awaiting_biopsy"}).json()
    assert first["next_lesion_id"] is None


def test_an_earlier_outcome_or_a_new_visit_does_not_answer_a_biopsy_decision_and_the_latest_read_decides(
    client_for, alice, clinic_a, version
):
    ReviewPolicy.objects.create(clinic=clinic_a, second_read_refer=False, second_read_disagreement=False)
    api = client_for(alice)
    prediction = _result(clinic_a, version, probability=0.9)
    lesion_id = prediction.image.lesion_id
    _outcome(api, lesion_id)  # an old biopsy, recorded before this decision
    review = _read(api, prediction, management="excise")

    assert _lesions(api, "awaiting_biopsy") == [lesion_id]

    follow_up = _result(clinic_a, version, probability=0.4, lesion=prediction.image.lesion)  # a new visit
    assert _lesions(api, "awaiting_biopsy") == [lesion_id]

    _read(api, follow_up, assessment="benign", management="discharge")  # the lesion's latest signed read
    assert _lesions(api, "awaiting_biopsy") == []

    amended = api.post(
        f"/api/v1/reviews/{review['id']}/amend/", {"assessment": "malignant", "management": "urgent_referral"},
        format="json",
    )  # fmt: skip
    assert amended.status_code == 201, amended.content
    assert _lesions(api, "awaiting_biopsy") == [lesion_id]  # the amendment is now the latest signed read
