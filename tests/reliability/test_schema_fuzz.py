"""Item 20: schemathesis generates requests for every operation of the OpenAPI schema served at
/api/v1/schema/ and sends them, as clinician alice (a bearer token), through the WSGI app with real
rows behind it. No 5xx; every status an operation answers is one its schema documents; every response's
body (errors included) and content type match the schema; data the schema calls invalid (a non-numeric id,
`page_size=-5`) is refused with a 4xx. Each operation gets 10 positive and 10 negative examples, to keep
the suite within minutes."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from portal.accounts.models import Membership
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory
from portal.wsgi import application

from .figures import record

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    negative_data_rejection,
]
EXAMPLES_PER_OPERATION = 10


def checks_for(operation) -> list:
    """All checks, except that multipart bodies skip negative-data rejection: a form field is text on the
    wire, so a "number" schemathesis puts where a string belongs (a batch named "1.5e+28") is a valid string,
    not invalid data."""
    content = operation.definition.raw.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        return [check for check in CHECKS if check is not negative_data_rejection]
    return CHECKS


@pytest.fixture
def clinic_data(alice, clinic_a, monkeypatch):
    from portal.accounts import firebase

    Membership.objects.filter(user=alice).update(firebase_uid="alice-uid")
    monkeypatch.setattr(firebase, "is_configured", lambda: True)
    monkeypatch.setattr(firebase, "verify", lambda token, check_revoked: {"uid": "alice-uid"})
    ModelVersionFactory()
    for _ in range(3):
        LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=clinic_a)))


def test_no_generated_request_gets_a_5xx_or_a_response_outside_the_schema(clinic_data):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    sent = 0
    for operation in operations:
        modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
        for mode in modes:

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                nonlocal sent
                response = case.call(headers={"Authorization": "Bearer alice"})
                sent += 1
                case.validate_response(response, checks=checks_for(case.operation))

            try:
                run()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (no parameters, no body).
                assert mode == schemathesis.GenerationMode.NEGATIVE
    record("20", f"schemathesis: {len(operations)} operations", f"{sent} requests, 0 5xx, 0 schema violations")
