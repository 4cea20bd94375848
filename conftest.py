"""Personas, as healthchecks does: alice and bob (clinicians, clinic A), charlie (clinic B), admin, and dora
(clinic A's admin in the Django admin)."""

import pytest


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MODEL_STORE = tmp_path / "models"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Lock-out and throttle counters live in the cache: every test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def clinic_a(db):
    from portal.accounts.models import Clinic

    return Clinic.objects.create(name="Clinic A")


@pytest.fixture
def clinic_b(db):
    from portal.accounts.models import Clinic

    return Clinic.objects.create(name="Clinic B")


def _clinician(clinic, username, role="clinician"):
    from portal.accounts.services import clinician_create

    return clinician_create(
        clinic=clinic, username=username, password="correct horse battery", email=f"{username}@example.org", role=role
    )


@pytest.fixture
def alice(clinic_a):
    return _clinician(clinic_a, "alice")


@pytest.fixture
def bob(clinic_a):
    return _clinician(clinic_a, "bob")


@pytest.fixture
def charlie(clinic_b):
    return _clinician(clinic_b, "charlie")


@pytest.fixture
def clinic_admin(clinic_a):
    """dora, clinic A's admin (staff with a clinic_admin membership), signed in to the Django admin."""
    from django.test import Client

    user = _clinician(clinic_a, "dora", role="clinic_admin")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_user(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("admin", "admin@example.org", "correct horse battery")


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def client_for(db):
    """A client of its own per user, for tests that interleave users (as_user below shares one client)."""
    from rest_framework.test import APIClient

    def signed_in(user):
        client = APIClient()
        client.force_login(user)
        return client

    return signed_in


@pytest.fixture
def as_user(api):
    def login(user):
        api.force_authenticate(user=None)
        api.force_login(user)
        return api

    return login
