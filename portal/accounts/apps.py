from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"

    def ready(self):
        # Imported for their side effects: the sign-in audit receivers, the OpenAPI auth extensions.
        from . import receivers, schema  # noqa: F401
