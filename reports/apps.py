from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """What leaves the portal: PDF reports, referral letters and the FHIR export. It reads records, classifier
    and triage; nothing imports it."""

    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"
