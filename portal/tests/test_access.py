"""Who may see what, generated from the URL conf. Every route is classified below and every class has a
test that covers all of its routes, so a new route, converter-less kwarg, `re_path` group or ViewSet
fails here until it is classified, and then it is checked:

- routes with an id of patient data in the path: charlie (clinic B) gets, on every verb, exactly what
  he gets for an id that does not exist — a 404 and a denied audit row where the view answers the
  verb, a 405 where it does not — also where a route mixes his own parent with clinic A's child;
- every signed-in route and verb: clinic A's ids and MRN in the query string and in an otherwise valid
  body change nothing of clinic A's and show none of it (a valid body, so that a view that forgot its
  scope would succeed rather than fail validation);
- public routes answer without credentials; every other route and verb → 401;
- the Django admin's routes are covered by test_admin_access.py; the SPA route serves index.html only.

The floor is therefore every route: each test walks the URL conf itself, and the classification test
fails on any route none of them would check."""

import csv
import io
import itertools
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RoutePattern
from django.views.generic import RedirectView

from classifier.models import BatchJob
from portal import urls as portal_urls
from portal.audit.models import Action, AuditEvent
from portal.records.models import Patient
from portal.tests.clinic_data import clinic_data_create, clinic_state, leaked
from portal.tests.factories import ModelVersionFactory, jpeg_bytes, png_bytes

pytestmark = pytest.mark.django_db

VERBS = ("get", "post", "put", "patch", "delete")
PUBLIC = {"health", "schema", "schema-ui", "auth-csrf", "auth-login", "auth-logout"}
# Route kwargs that name one clinic's patient data, those that name shared objects, and the rest.
OBJECT_KINDS = {"patient_id", "lesion_id", "image_id", "prediction_id", "batch_id", "operating_point_id", "review_id"}
SHARED_KINDS = {"model_version_id"}
# What a denied attempt is audited as: a refused write is an attempted write, not a read.
ATTEMPTED = {"get": {Action.READ}, "patch": {Action.UPDATE}, "put": {Action.UPDATE}, "delete": {Action.DELETE}}
ATTEMPTED["post"] = {Action.CREATE, Action.EXECUTE}
NOT_IDS = {"name"}
SUPERUSER_ONLY = {"model-activate"}
MISSING = 2_000_000_000
# The admin site's own views; its per-model views are named <app>_<model>_<view>.
ADMIN_SITE_VIEWS = {
    "index", "login", "logout", "password_change", "password_change_done", "jsi18n", "app_list", "autocomplete",
    "view_on_site",
}  # fmt: skip
ADMIN_MODEL_VIEWS = ("changelist", "add", "history", "delete", "change")
# Extra views of a ModelAdmin (its get_urls), each with its test in test_admin_access.py.
ADMIN_EXTRA_VIEWS = {"auth_user_password_change"}


@dataclass(frozen=True)
class Route:
    name: str | None
    path: str
    kwargs: frozenset
    unnamed_groups: bool
    callback: object
    namespace: str | None


def _pattern_kwargs(pattern) -> tuple[frozenset, bool]:
    # path(): every <kwarg>, with or without a converter; re_path(): named groups, and whether any is unnamed.
    if isinstance(pattern, RoutePattern):
        return frozenset(pattern.converters), False
    regex = pattern.regex
    return frozenset(regex.groupindex), regex.groups > len(regex.groupindex)


def all_routes() -> list[Route]:
    routes = []

    def walk(patterns, prefix, kwargs, unnamed, namespace):
        for p in patterns:
            own, own_unnamed = _pattern_kwargs(p.pattern)
            if isinstance(p, URLResolver):
                walk(
                    p.url_patterns,
                    prefix + str(p.pattern),
                    kwargs | own,
                    unnamed or own_unnamed,
                    p.namespace or namespace,
                )
            elif isinstance(p, URLPattern):
                routes.append(
                    Route(p.name, prefix + str(p.pattern), kwargs | own, unnamed or own_unnamed, p.callback, namespace)
                )

    walk(get_resolver().url_patterns, "", frozenset(), False, None)
    return routes


# Not clinic data: the Prometheus endpoint answers only a bearer token (404 while unset) and carries no
# clinic, patient or user label; portal/core/tests/test_metrics.py tests its 404/401/403 and its labels.
OPERATIONS = {"metrics"}
# Not clinic data: browser navigations of the OpenID Connect sign-in (to the provider and back), answered
# with redirects and 404 while OIDC is off; portal/accounts/tests/test_oidc.py drives them against a real
# provider (an uninvited identity gets no clinic, a replayed callback signs nobody in).
SIGN_IN_NAVIGATIONS = {"oidc-authenticate", "oidc-callback"}


def api_routes() -> list[Route]:
    return [
        r
        for r in all_routes()
        if r.namespace != "admin" and r.name != "spa" and r.name not in OPERATIONS | SIGN_IN_NAVIGATIONS
    ]


def answered_verbs(route: Route) -> set[str]:
    actions = getattr(route.callback, "actions", None)  # a ViewSet's verb → action map
    if actions:
        return set(actions)
    view = getattr(route.callback, "cls", None) or getattr(route.callback, "view_class", None)
    if view is None:  # a plain function: it must hold on every verb
        return set(VERBS)
    return {verb for verb in VERBS if hasattr(view, verb)}


_serial = itertools.count()


def valid_body(name: str, verb: str, *, model_version) -> tuple[dict, str]:
    """A request body each write accepts (fresh files and unique values on every call)."""
    n = next(_serial)

    def jpeg():
        return SimpleUploadedFile(f"probe-{n}.jpg", jpeg_bytes(), "image/jpeg")

    bodies = {
        ("patient-list", "post"): ({"mrn": f"PROBE-{n}", "name": f"Probe {n}"}, "json"),
        ("patient-detail", "patch"): ({"notes": f"probe {n}"}, "json"),
        ("patient-lesions", "post"): ({"anatomic_site": "torso", "label": f"probe {n}"}, "json"),
        ("lesion-detail", "patch"): ({"label": f"probe {n}"}, "json"),
        ("lesion-images", "post"): ({"files": [jpeg()]}, "multipart"),
        ("lesion-outcomes", "post"): (
            {"diagnosis": "nevus", "benign_malignant": "benign", "date": "2026-01-02"},
            "json",
        ),
        ("image-rerun", "post"): ({"model_version": model_version.pk}, "json"),
        ("batch-list", "post"): ({"files": [jpeg()], "name": f"probe {n}"}, "multipart"),
        ("prediction-quality-dismiss", "post"): ({}, "json"),
        ("batch-cancel", "post"): ({}, "json"),
        ("batch-retry", "post"): ({}, "json"),
        ("model-activate", "post"): ({}, "json"),
        # The URL conf's order is the probes' order: a draft is edited (into an urgent referral), then signed,
        # then its referral letter written, then amended.
        ("prediction-reviews", "post"): ({"assessment": "suspicious", "management": "excise"}, "json"),
        ("review-detail", "patch"): (
            {"notes": f"probe {n}", "assessment": "malignant", "management": "urgent_referral"},
            "json",
        ),
        ("review-sign", "post"): ({}, "json"),
        ("review-amend", "post"): ({"assessment": "benign", "management": "discharge"}, "json"),
    }
    if verb == "get":
        return {}, "json"
    assert (name, verb) in bodies, f"{verb.upper()} {name}: add a valid body to valid_body() so the probes reach it"
    return bodies[(name, verb)]


def send(client, verb: str, path: str, *, body: dict, fmt: str, query: dict | None = None):
    if query:
        path = f"{path}?{urlencode(query)}"
    if verb == "get":
        return client.get(path)
    return getattr(client, verb)(path, body, format=fmt)


def path_for(route: Route, ids: dict) -> str:
    return reverse(route.name, kwargs={k: ids[k] for k in route.kwargs})


@pytest.fixture
def version(db, tmp_path):
    """With a plot on disk, so that the plot route answers 200 rather than 404 for want of a file."""
    (tmp_path / "roc.png").write_bytes(png_bytes())
    return ModelVersionFactory(artifact_path=str(tmp_path / "model.naevus.pt"), plots={"roc": "roc.png"})


@pytest.fixture
def clinic_a_data(clinic_a, alice, version):
    return clinic_data_create(clinic=clinic_a, user=alice, tag="Alder", model_version=version)


@pytest.fixture
def clinic_b_data(clinic_b, charlie, version):
    return clinic_data_create(clinic=clinic_b, user=charlie, tag="Bramble", model_version=version)


def _ids(data, version) -> dict:
    return {**data.ids(), "model_version_id": version.pk, "name": "roc"}


def test_every_route_is_classified_so_that_a_test_covers_it():
    admin_views = {
        f"{model._meta.app_label}_{model._meta.model_name}_{view}"
        for model in admin.site._registry
        for view in ADMIN_MODEL_VIEWS
    }
    for route in all_routes():
        assert not route.unnamed_groups, f"{route.path}: name every group, so that it can be classified"
        if route.namespace == "admin":
            if route.name is None:
                # Django's own: /admin/<app>/<model>/<id>/ redirects to the change view; the final catch-all.
                view = getattr(route.callback, "view_class", None)
                assert view is RedirectView or route.callback.__name__ == "catch_all_view", route.path
            else:
                assert route.name in ADMIN_SITE_VIEWS | ADMIN_EXTRA_VIEWS | admin_views, (
                    f"admin route {route.name} ({route.path}) is not a standard admin view: test it in "
                    "test_admin_access.py and list it here"
                )
        elif route.name == "spa":
            assert route.callback is portal_urls.spa and route.kwargs == {"resource"}
        else:
            assert route.name, f"{route.path}: name the route"
            unknown = route.kwargs - OBJECT_KINDS - SHARED_KINDS - NOT_IDS
            assert not unknown, f"route {route.name} ({route.path}) has kwargs {set(unknown)}: classify them"


def test_charlie_gets_what_a_missing_id_gets_on_every_verb_of_every_route_to_clinic_a_data(
    as_user, charlie, version, clinic_a_data, clinic_b_data
):
    api = as_user(charlie)
    own, foreign = _ids(clinic_b_data, version), _ids(clinic_a_data, version)
    before = clinic_state(clinic_a_data.clinic)
    for route in api_routes():
        for kind in sorted(route.kwargs & OBJECT_KINDS):
            # charlie's own ids everywhere but one: clinic A's there (his parent, their child, and so on).
            mixed, missing = {**own, kind: foreign[kind]}, {**own, kind: MISSING}
            answered = answered_verbs(route)
            for verb in VERBS:
                where = f"{verb.upper()} {path_for(route, mixed)} ({route.name}, {kind} of clinic A)"
                denied = AuditEvent.objects.filter(user_id=charlie.pk, outcome="denied").count()
                body, fmt = valid_body(route.name, verb, model_version=version) if verb in answered else ({}, "json")
                response = send(api, verb, path_for(route, mixed), body=body, fmt=fmt)
                assert response.status_code == (404 if verb in answered else 405), f"{where} → {response.status_code}"
                if verb in answered:
                    rows = AuditEvent.objects.filter(user_id=charlie.pk, outcome="denied")
                    assert rows.count() == denied + 1, f"{where} left no denied audit row"
                    action = rows.order_by("-id").first().action
                    assert action in ATTEMPTED[verb], f"{where} audited as {Action(action).label}"
                body, fmt = valid_body(route.name, verb, model_version=version) if verb in answered else ({}, "json")
                reference = send(api, verb, path_for(route, missing), body=body, fmt=fmt)
                assert (response.status_code, response.content) == (reference.status_code, reference.content), (
                    f"{where} answers differently from a missing id: {response.content[:300]!r}"
                )
    assert clinic_state(clinic_a_data.clinic) == before


def test_clinic_a_ids_in_the_query_string_or_the_body_of_any_request_change_and_show_nothing_of_clinic_a(
    as_user, charlie, version, clinic_a_data, clinic_b_data
):
    api = as_user(charlie)
    a = clinic_a_data
    foreign = {**a.ids(), **{k.removesuffix("_id"): v for k, v in a.ids().items()}}
    foreign |= {"clinic": a.clinic.pk, "clinic_id": a.clinic.pk, "user": a.user.pk, "created_by": a.user.pk}
    # Searched for, not written: a body's "mrn" is charlie's to set, and the answer would echo it.
    query = foreign | {"mrn": a.patient.mrn, "search": a.patient.mrn, "q": a.patient.mrn}
    own = _ids(clinic_b_data, version)
    before = clinic_state(a.clinic)
    for route in api_routes():
        if route.name in PUBLIC:
            continue
        for verb in sorted(answered_verbs(route)):
            body, fmt = valid_body(route.name, verb, model_version=version)
            extra = {k: str(v) for k, v in foreign.items()} if fmt == "multipart" else foreign
            response = send(api, verb, path_for(route, own), body=extra | body, fmt=fmt, query=query)
            where = f"{verb.upper()} {route.name} with clinic A's ids in the query and body"
            expected = 403 if route.name in SUPERUSER_ONLY else None
            assert (response.status_code == expected) if expected else 200 <= response.status_code < 300, (
                f"{where} → {response.status_code}: {response.content[:300]!r}"
            )
            content = b"".join(response.streaming_content) if response.streaming else response.content
            assert not leaked(content.decode(errors="replace"), a), f"{where} showed clinic A's data"
            assert clinic_state(a.clinic) == before, f"{where} changed or attached to clinic A's data"


def _mapped_batch(api, rows: list[list[str]], *, create_missing: bool):
    mapping = io.StringIO()
    writer = csv.writer(mapping)
    writer.writerow(["file_name", "mrn", "lesion_label", "anatomic_site"])
    writer.writerows(rows)
    response = api.post(
        "/api/v1/batches/",
        {
            "files": [SimpleUploadedFile(row[0], jpeg_bytes(), "image/jpeg") for row in rows],
            "mapping": SimpleUploadedFile("mapping.csv", mapping.getvalue().encode(), "text/csv"),
            "create_missing": "true" if create_missing else "false",
        },
        format="multipart",
    )
    assert response.status_code == 202, response.content
    results = api.get(f"/api/v1/batches/{response.json()['id']}/results/").json()["results"]
    return {row["file_name"]: row for row in results}


def test_a_batch_mapping_that_names_another_clinics_mrn_neither_reaches_nor_reveals_that_patient(
    as_user, charlie, version, clinic_a_data
):
    a = clinic_a_data
    api = as_user(charlie)
    before = clinic_state(a.clinic)
    label, site = a.lesion.label, a.lesion.anatomic_site
    rows = _mapped_batch(
        api, [["theirs.jpg", a.patient.mrn, label, site], ["nobodys.jpg", "NEVER-SEEN-1", label, site]],
        create_missing=False,
    )  # fmt: skip
    theirs, nobodys = rows["theirs.jpg"], rows["nobodys.jpg"]
    assert theirs["status"] == nobodys["status"] == "failed"
    assert theirs["error"].replace(a.patient.mrn, "?") == nobodys["error"].replace("NEVER-SEEN-1", "?")

    rows = _mapped_batch(api, [["created.jpg", a.patient.mrn, label, site]], create_missing=True)
    created = Patient.objects.get(pk=rows["created.jpg"]["patient_id"])
    assert created.clinic_id == charlie.membership.clinic_id and created.pk != a.patient.pk
    assert clinic_state(a.clinic) == before
    assert not BatchJob.objects.filter(clinic=a.clinic).exclude(pk=a.batch.pk).exists()


def test_lists_and_searches_never_contain_another_clinics_patients(as_user, charlie, clinic_a_data):
    api = as_user(charlie)
    assert api.get("/api/v1/patients/").json()["count"] == 0
    assert api.get(f"/api/v1/patients/?search={clinic_a_data.patient.mrn}").json()["count"] == 0
    assert api.get("/api/v1/batches/").json()["count"] == 0
    assert api.get("/api/v1/operating-points/").json() == []


def test_alice_and_bob_share_their_clinics_records(as_user, bob, clinic_a_data):
    api = as_user(bob)
    assert api.get(f"/api/v1/patients/{clinic_a_data.patient.pk}/history/").status_code == 200
    assert api.get("/api/v1/patients/").json()["count"] == 1


def test_no_route_but_health_login_and_schema_answers_without_credentials(api, version, clinic_a_data):
    ids = _ids(clinic_a_data, version)
    for route in api_routes():
        if route.name in PUBLIC:
            continue
        for verb in VERBS:
            response = getattr(api, verb)(path_for(route, ids))
            assert response.status_code == 401, f"{verb.upper()} {route.path} ({route.name}) → {response.status_code}"


def test_public_routes_answer_without_credentials(api, db):
    assert api.get("/api/v1/schema/").status_code == 200
    assert api.get("/api/v1/auth/csrf/").status_code == 200
    assert api.get("/api/v1/health/").status_code in (200, 503)


def test_a_user_without_a_clinic_sees_nothing(as_user, db, clinic_a_data):
    from django.contrib.auth import get_user_model

    loner = get_user_model().objects.create_user("loner", password="correct horse battery")
    assert as_user(loner).get("/api/v1/patients/").status_code == 403


def test_only_superusers_activate_model_versions(as_user, alice, admin_user, version):
    path = f"/api/v1/models/{version.pk}/activate/"
    assert as_user(alice).post(path).status_code == 403
    assert as_user(admin_user).post(path).status_code == 200
