from django.apps import AppConfig


class ClassifierConfig(AppConfig):
    name = "classifier"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Records announce an upload; the classifier queues it for the active model. Connected here so
        # that records import nothing from the classifier.
        from portal.records.signals import images_uploaded

        images_uploaded.connect(_predictions_request_on_upload, dispatch_uid="classifier.predictions_request")


def _predictions_request_on_upload(sender, *, user, images, **kwargs):
    from .services import predictions_request

    predictions_request(user=user, images=images)
