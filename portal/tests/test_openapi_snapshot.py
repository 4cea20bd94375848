"""The committed frontend/openapi.yaml is the schema the SPA's types are generated from
(frontend/src/lib/api-schema.d.ts); this keeps it equal to what the serializers publish."""

from pathlib import Path

from django.core.management import call_command

COMMITTED = Path(__file__).resolve().parents[2] / "frontend" / "openapi.yaml"


def test_the_committed_frontend_schema_matches_the_api(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(generated))
    assert COMMITTED.exists(), "frontend/openapi.yaml is missing: run `make api-types`"
    assert generated.read_bytes() == COMMITTED.read_bytes(), (
        "The API changed but frontend/openapi.yaml did not: run `make api-types` (regenerates the schema and "
        "frontend/src/lib/api-schema.d.ts), then `npm run typecheck` in frontend/ and commit all three."
    )
