"""The API answers as its contract (the OpenAPI schema and docs/api.md) says, on the edges an outside
tester found: ids that are not numbers, page sizes out of range, error statuses the schema left out,
the PNG file route, and upload refusals."""

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from portal.records.validation import UPLOAD_REJECTIONS
from portal.tests.factories import LesionFactory, PatientFactory, png_bytes

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operation(schema, path, method):
    return schema["paths"][path][method]


@pytest.mark.parametrize(
    "path", ["/api/v1/patients/abc/", "/api/v1/lesions/1e3/images/", "/api/v1/images/-1/file/", "/api/v1/nope/"]
)
def test_a_url_under_the_api_that_matches_no_route_gets_the_json_404(as_user, alice, path):
    response = as_user(alice).get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "message": "Not found."}


def test_a_url_outside_the_api_still_gets_django_s_404(api, db):
    response = api.get("/admin/nope/")
    assert response.status_code in (302, 404) and not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("query", ["page_size=-5", "page_size=0", "page_size=abc", "page_size=201", "page=0", "page=x"])
@pytest.mark.parametrize("route", ["/api/v1/patients/", "/api/v1/batches/"])
def test_a_page_or_page_size_that_is_not_a_whole_number_in_range_is_a_400_naming_it(as_user, alice, route, query):
    response = as_user(alice).get(f"{route}?{query}")
    assert response.status_code == 400, response.content
    name = query.split("=")[0]
    assert response.json()["code"] == "invalid" and list(response.json()["fields"]) == [name]


def test_the_largest_page_size_is_allowed_and_stated_in_the_schema(as_user, alice, schema):
    assert as_user(alice).get("/api/v1/patients/?page_size=200&page=1").status_code == 200
    params = {p["name"]: p["schema"] for p in _operation(schema, "/api/v1/patients/", "get")["parameters"]}
    assert params["page_size"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert params["page"] == {"type": "integer", "minimum": 1}


def test_every_operation_documents_the_error_statuses_it_can_answer_in_the_error_shape(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            expected = set()
            if path != "/api/v1/health/" and path != "/api/v1/auth/csrf/":
                expected |= {"401", "403"}
            if "{" in path:
                expected.add("404")
            if method in ("post", "patch") and operation.get("requestBody"):
                expected.add("400")
            missing = expected - set(responses)
            assert not missing, f"{method.upper()} {path} does not document {missing}"
            for code in expected:
                assert responses[code]["content"]["application/json"]["schema"] == ERROR, (method, path, code)
    assert "429" in _operation(schema, "/api/v1/lesions/{lesion_id}/images/", "post")["responses"]
    assert "429" in _operation(schema, "/api/v1/auth/login/", "post")["responses"]
    assert "429" in _operation(schema, "/api/v1/batches/", "post")["responses"]
    assert "429" not in _operation(schema, "/api/v1/batches/", "get")["responses"]


def test_a_stored_png_is_served_as_a_png_and_the_schema_says_the_route_can(as_user, alice, clinic_a, schema):
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    api = as_user(alice)
    upload = SimpleUploadedFile("mole.png", png_bytes(), content_type="image/png")
    image = api.post(f"/api/v1/lesions/{lesion.pk}/images/", {"files": [upload]}, format="multipart").json()
    response = api.get(image["images"][0]["file_url"])
    assert response["Content-Type"] == "image/png"
    content = _operation(schema, "/api/v1/images/{image_id}/file/", "get")["responses"]["200"]["content"]
    assert set(content) == {"image/jpeg", "image/png"}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "invalid_image"),
        (b"<html>not an image</html>", "unsupported_format"),
        (png_bytes()[:60], "corrupt_image"),
    ],
)
def test_an_upload_refusal_names_its_reason_under_fields_files(as_user, alice, clinic_a, data, code):
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    upload = SimpleUploadedFile("mole.png", data, content_type="image/png")
    response = as_user(alice).post(f"/api/v1/lesions/{lesion.pk}/images/", {"files": [upload]}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body["fields"] == {"files": [body["message"]]} and body["message"].startswith("mole.png: ")


def test_docs_and_schema_list_every_upload_refusal_code_the_code_raises(schema):
    docs = DOCS.read_text()
    section = docs[docs.index("POST lesions/{id}/images/") :].split("\n- ")[0]
    assert set(re.findall(r"`([a-z_]+)`", section)) >= set(UPLOAD_REJECTIONS)
    assert "invalid_image" in section and "fields" in section
    described = _operation(schema, "/api/v1/lesions/{lesion_id}/images/", "post")["responses"]["400"]["description"]
    assert all(f"`{code}`" in described for code in UPLOAD_REJECTIONS)
