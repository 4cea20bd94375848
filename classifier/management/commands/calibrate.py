"""`manage.py calibrate --model-version V --clinic C [--target-sensitivity 0.95] [--dry-run]`: a
clinic's local validation report and, with enough confirmed outcomes, its own operating point."""

from django.core.management.base import BaseCommand, CommandError

from classifier.models import ModelVersion
from classifier.operating_points import DEFAULT_TARGET_SENSITIVITY, operating_point_fit
from portal.accounts.models import Clinic
from portal.core.exceptions import ApplicationError


def _figure(report: dict, name: str) -> str:
    value, ci = report.get(name), report.get(f"{name}_ci95") or [None, None]
    if value is None:
        return f"{name} —"
    bounds = f" (95% CI {ci[0]:.3f}–{ci[1]:.3f})" if None not in ci else ""
    return f"{name} {value:.3f}{bounds}"


class Command(BaseCommand):
    help = "Fit a clinic's operating point for a model version on its recorded outcomes."

    def add_arguments(self, parser):
        parser.add_argument("--model-version", type=int, required=True, help="model version id")
        parser.add_argument("--clinic", type=int, required=True, help="clinic id")
        parser.add_argument("--target-sensitivity", type=float, default=DEFAULT_TARGET_SENSITIVITY)
        parser.add_argument("--dry-run", action="store_true", help="print the report, store and activate nothing")

    def handle(self, *args, **options):
        version = ModelVersion.objects.filter(pk=options["model_version"]).first()
        if version is None:
            raise CommandError(f"No model version {options['model_version']}.")
        clinic = Clinic.objects.filter(pk=options["clinic"]).first()
        if clinic is None:
            raise CommandError(f"No clinic {options['clinic']}.")
        try:
            point = operating_point_fit(
                clinic=clinic,
                model_version=version,
                target_sensitivity=options["target_sensitivity"],
                dry_run=options["dry_run"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        report = point.report
        self.stdout.write(
            f"clinic {clinic.pk}, model version {version.pk}: n={report['n']} "
            f"({report['melanomas']} melanoma, {report['benign']} benign, {report['patients']} patients)"
        )
        for scope, threshold in (("global", version.threshold), ("local", point.threshold)):
            figures = ", ".join(
                _figure(report[scope], name) for name in ("roc_auc", "sensitivity", "specificity", "ece")
            )
            self.stdout.write(f"  {scope:<6} threshold {threshold:.3f}: {figures}")
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing stored; the clinic keeps its current operating point.")
        else:
            self.stdout.write(f"Operating point {point.pk} is now active for clinic {clinic.pk}.")
