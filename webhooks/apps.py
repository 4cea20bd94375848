from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed event notifications to a clinic's own systems. It listens to classifier's and triage's
    signals (`classifier.signals`, `triage.signals`); neither imports it."""

    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import receivers  # noqa: F401  (connects the signal receivers)
