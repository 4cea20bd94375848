from django.apps import AppConfig


class TriageConfig(AppConfig):
    """The clinician's work on top of the results: the worklist (and, next, reviews). It reads records and
    classifier; neither imports it."""

    name = "triage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import receivers

        receivers.connect()
