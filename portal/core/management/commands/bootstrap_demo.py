import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from portal.accounts.models import Clinic, Role
from portal.accounts.services import clinician_create


class Command(BaseCommand):
    help = (
        "Creates a demo clinic with a demo admin and clinician (credentials kept in var/) "
        "and makes sure a model is active."
    )

    def add_arguments(self, parser):
        parser.add_argument("--skip-model", action="store_true", help="Do not train/register the demo model.")

    def handle(self, *args, **options):
        creds_file = Path(settings.VAR_DIR) / "demo-credentials.txt"
        User = get_user_model()
        with transaction.atomic():
            clinic, _ = Clinic.objects.get_or_create(name="Demo Clinic")
            if not User.objects.filter(username="admin").exists():
                admin_password = secrets.token_urlsafe(12)
                clinician_password = secrets.token_urlsafe(12)
                admin = User.objects.create_superuser("admin", "admin@example.org", admin_password)
                clinician_create(
                    clinic=clinic,
                    username="clinician",
                    password=clinician_password,
                    email="clinician@example.org",
                    role=Role.CLINICIAN,
                    first_name="Demo",
                    last_name="Clinician",
                )
                from portal.accounts.models import Membership

                Membership.objects.create(user=admin, clinic=clinic, role=Role.CLINIC_ADMIN)
                creds_file.parent.mkdir(parents=True, exist_ok=True)
                creds_file.write_text(f"admin {admin_password}\nclinician {clinician_password}\n")
                creds_file.chmod(0o600)
        if not options["skip_model"]:
            call_command("ensure_demo_model")
        if creds_file.exists():
            lines = dict(line.split(" ", 1) for line in creds_file.read_text().splitlines() if " " in line)
            self.stdout.write(
                "Demo sign-in (kept in var/demo-credentials.txt):\n"
                f"  clinician / {lines.get('clinician', '?')}\n"
                f"  admin     / {lines.get('admin', '?')}   (Django admin at /admin/)"
            )
