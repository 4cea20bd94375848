"""`manage.py analyze PATH`: queue every image of a server folder (or a zip) as one batch."""

from contextlib import ExitStack
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from classifier import batches
from portal.accounts.models import Clinic
from portal.core.exceptions import ApplicationError

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


class Command(BaseCommand):
    help = "Queue a folder of images (or a .zip) on the server for analysis as one batch."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--clinic", required=True, help="clinic id or exact name")
        parser.add_argument("--user", help="username recorded as the batch's creator")
        parser.add_argument("--csv", help="mapping CSV: file_name,mrn[,patient_name,lesion_label,anatomic_site]")
        parser.add_argument("--create-missing", action="store_true", help="create patients/lesions named in the CSV")
        parser.add_argument("--name", default="")

    def handle(self, *args, **options):
        path = Path(options["path"])
        clinic_key = options["clinic"]
        clinic = Clinic.objects.filter(pk=int(clinic_key)).first() if clinic_key.isdigit() else None
        clinic = clinic or Clinic.objects.filter(name=clinic_key).first()
        if clinic is None:
            raise CommandError(f"No clinic {clinic_key!r}.")
        user = get_user_model().objects.filter(username=options["user"]).first() if options["user"] else None
        mapping = batches.parse_mapping(Path(options["csv"]).read_bytes()) if options["csv"] else None
        with ExitStack() as stack:
            if path.is_file() and path.suffix.lower() == ".zip":
                total, members = batches.batch_members(archive=stack.enter_context(open(path, "rb")))
            elif path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
                total, members = batches.batch_members(files=[(p.name, p.read_bytes) for p in files])
            else:
                raise CommandError(f"{path} is neither a folder nor a .zip file.")
            try:
                batch = batches.batch_create(
                    user=user,
                    clinic=clinic,
                    members=members,
                    total=total,
                    name=options["name"] or path.name,
                    mapping=mapping,
                    create_missing=options["create_missing"],
                )
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(f"batch {batch.pk}: {batch.total} file(s) queued for {batch.model_version}")
