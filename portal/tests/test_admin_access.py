"""The Django admin as clinic B's clinic admin (dana) sees it: nothing of clinic A on any admin model —
not by list, search, raw-id popup, change, history or delete view, action, autocomplete, the label a
raw-id field shows for a typed id, a form's choices, or view-on-site. Generated from the admin
registry, so a ModelAdmin is covered the day it is registered (test_access.py fails on an admin
route that is none of these). Signs in with `force_login`: the admin login has its own tests."""

from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client, RequestFactory
from django.urls import reverse

from portal.audit.models import AuditEvent
from portal.tests.clinic_data import clinic_data_create, clinic_state, leaked
from portal.tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

MISSING = 2_000_000_000


@pytest.fixture
def version(db):
    return ModelVersionFactory()


@pytest.fixture
def clinic_a_data(clinic_a, alice, version):
    return clinic_data_create(clinic=clinic_a, user=alice, tag="Alder", model_version=version)


@pytest.fixture
def dana(clinic_b, charlie, version):
    """Clinic B's clinic admin, with clinic B's own rows to look at."""
    from portal.accounts.services import clinician_create

    user = clinician_create(
        clinic=clinic_b,
        username="dana",
        password="correct horse battery",
        email="dana@example.org",
        role="clinic_admin",
    )
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    clinic_data_create(clinic=clinic_b, user=charlie, tag="Bramble", model_version=version)
    return user


@pytest.fixture
def client(dana):
    client = Client()
    client.force_login(dana)
    return client


def _a_rows(data) -> dict[type, list]:
    rows: dict[type, list] = {}
    for obj in data.objects():
        rows.setdefault(type(obj), []).append(obj)
    rows[AuditEvent] = list(AuditEvent.objects.filter(user_id=data.user.pk))
    return rows


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _text(response) -> str:
    return response.content.decode(errors="replace")


def _same(response, reference) -> bool:
    return (response.status_code, response.get("Location"), response.content) == (
        reference.status_code,
        reference.get("Location"),
        reference.content,
    )


def _check_listing(response, model, theirs, data, where, term=""):
    assert response.status_code in (200, 403), f"{where} → {response.status_code}"
    # The search box shows the term searched for; the rows found are checked by id below.
    assert not leaked(_text(response).replace(term, "") if term else _text(response), data), f"{where} shows it"
    if response.status_code == 200:
        shown = {obj.pk for obj in response.context["cl"].result_list}
        assert not shown & {obj.pk for obj in theirs}, f"{where} lists clinic A's {model._meta.verbose_name}"


def test_every_admin_model_lists_and_finds_nothing_of_another_clinic(client, clinic_a_data):
    rows = _a_rows(clinic_a_data)
    terms = [*clinic_a_data.markers, "Alder", *{str(obj.pk) for objs in rows.values() for obj in objs}]
    for model in admin.site._registry:
        theirs = rows.get(model, [])
        changelist = _admin_url(model, "changelist")
        for query, term in [("", ""), ("?_to_field=id&_popup=1", ""), *((f"?{urlencode({'q': t})}", t) for t in terms)]:
            response = client.get(changelist + query)
            _check_listing(response, model, theirs, clinic_a_data, f"{changelist}{query}", term)
    for page in ["/admin/", *{f"/admin/{m._meta.app_label}/" for m in admin.site._registry}]:
        response = client.get(page)
        assert response.status_code in (200, 403, 404) and not leaked(_text(response), clinic_a_data), page


def test_another_clinics_rows_answer_as_if_they_did_not_exist_and_cannot_be_changed(client, dana, clinic_a_data):
    before = clinic_state(clinic_a_data.clinic)
    for model, objs in _a_rows(clinic_a_data).items():
        if model not in admin.site._registry:
            continue
        for obj in objs:
            for view in ("change", "history", "delete"):
                where = f"{_admin_url(model, view, obj.pk)} (clinic A's {model._meta.verbose_name})"
                for method in ("get", "post"):
                    response = getattr(client, method)(_admin_url(model, view, obj.pk), {"post": "yes"})
                    reference = getattr(client, method)(_admin_url(model, view, MISSING), {"post": "yes"})
                    assert response.status_code in (302, 403, 404), f"{method.upper()} {where} → {response.status_code}"
                    assert _same(response, reference), f"{method.upper()} {where} differs from a missing id"
            content_type = ContentType.objects.get_for_model(model)
            on_site = client.get(reverse("admin:view_on_site", args=[content_type.pk, obj.pk]))
            missing = client.get(reverse("admin:view_on_site", args=[content_type.pk, MISSING]))
            assert _same(on_site, missing), f"view-on-site of clinic A's {model._meta.verbose_name}"
        request = RequestFactory().get("/admin/")
        request.user = dana
        for action in admin.site._registry[model].get_actions(request):
            client.post(
                _admin_url(model, "changelist"), {"action": action, "_selected_action": [str(o.pk) for o in objs]}
            )
    alice = clinic_a_data.user
    password = client.get(reverse("admin:auth_user_password_change", args=[alice.pk]))
    assert _same(password, client.get(reverse("admin:auth_user_password_change", args=[MISSING])))
    assert clinic_state(clinic_a_data.clinic) == before


def _foreign_keys(model):
    return [f for f in model._meta.get_fields() if isinstance(f, models.ForeignKey | models.OneToOneField)]


def test_a_typed_or_linked_id_of_another_clinics_row_shows_nothing_in_an_add_form(client, dana, clinic_a_data):
    """Raw-id fields label whatever id they are given, and an add form takes initial values from its
    query string: /admin/records/lesion/add/?patient=<id> must not name or link clinic A's patient."""
    rows = _a_rows(clinic_a_data)
    request = RequestFactory().get("/admin/")
    request.user = dana
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_add_permission(request):
            continue
        form = model_admin.get_form(request)
        forms = [form, *(formset.form for formset, _ in model_admin.get_formsets_with_inlines(request))]
        for field in _foreign_keys(model):
            for obj in rows.get(field.related_model, []):
                response = client.get(f"{_admin_url(model, 'add')}?{field.name}={obj.pk}")
                where = f"{model._meta.label} add form with {field.name}={obj.pk} (clinic A's)"
                assert response.status_code in (200, 403), f"{where} → {response.status_code}"
                text = _text(response)
                assert _admin_url(field.related_model, "change", obj.pk) not in text, f"{where} links it"
                assert f"<strong>{obj}</strong>" not in text and not leaked(text, clinic_a_data), f"{where} names it"
        for each in forms:
            for name, formfield in each.base_fields.items():
                queryset = getattr(formfield, "queryset", None)
                theirs = rows.get(getattr(queryset, "model", None), [])
                assert not queryset or not queryset.filter(pk__in=[o.pk for o in theirs]).exists(), (
                    f"{model._meta.label}.{name} offers clinic A's rows"
                )


def test_autocomplete_offers_nothing_of_another_clinic(client, clinic_a_data):
    rows = _a_rows(clinic_a_data)
    for model in admin.site._registry:
        for field in _foreign_keys(model):
            if field.related_model not in admin.site._registry:
                continue
            theirs = {str(o.pk) for o in rows.get(field.related_model, [])}
            for term in ("", "Alder", clinic_a_data.patient.mrn):
                response = client.get(
                    "/admin/autocomplete/",
                    {
                        "app_label": model._meta.app_label,
                        "model_name": model._meta.model_name,
                        "field_name": field.name,
                        "term": term,
                    },
                )
                where = f"autocomplete {model._meta.label}.{field.name} term={term!r}"
                assert response.status_code in (200, 403, 404), f"{where} → {response.status_code}"
                assert not leaked(_text(response), clinic_a_data), f"{where} shows clinic A's data"
                if response.status_code == 200:
                    offered = {r["id"] for r in response.json()["results"]}
                    assert not offered & theirs, f"{where} offers clinic A's rows"
