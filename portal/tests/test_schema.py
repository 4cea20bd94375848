import pytest
from django.core.management import call_command


def test_the_openapi_schema_generates_and_validates_without_a_warning(tmp_path):
    # --fail-on-warn turns an unresolvable serializer or a colliding operationId into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/patients/{patient_id}/history/" in text
    assert "firebaseIdToken" in text


@pytest.mark.django_db
def test_the_schema_is_public(api):
    assert api.get("/api/v1/schema/").status_code == 200
