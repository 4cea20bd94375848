"""`manage.py model list | activate ID | import PATH`: the model registry for operators."""

import datetime as dt
import json
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classifier import services
from classifier.models import ModelVersion
from portal.core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "List, activate or import model versions."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="All versions, the active one marked with *.")
        activate = sub.add_parser("activate", help="Make a version the only active one (also how to roll back).")
        activate.add_argument("id", type=int)
        imp = sub.add_parser(
            "import",
            help="Register a serving artifact from `manage.py train`, or a plain timm state dict with --arch etc.",
        )
        imp.add_argument("path")
        imp.add_argument("--arch", help="timm architecture (plain state dicts only)")
        imp.add_argument("--img-size", type=int, default=224)
        imp.add_argument("--num-classes", type=int, default=1)
        imp.add_argument("--class-names", default="melanoma", help="comma-separated, in the head's order")
        imp.add_argument("--melanoma-index", type=int, default=0)
        imp.add_argument("--threshold", type=float, help="operating threshold on the calibrated probability")
        imp.add_argument(
            "--calibration", default='{"method": "none"}', help='JSON, e.g. {"method": "temperature", "T": 1.3}'
        )
        imp.add_argument("--color-constancy", choices=["shades_of_gray", "none"], default="shades_of_gray")
        imp.add_argument("--name")
        imp.add_argument("--version")
        imp.add_argument("--demo", action="store_true", help='flag as "demo — not for clinical use"')
        imp.add_argument("--activate", action="store_true")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _list(self, options):
        for v in ModelVersion.objects.order_by("created_at"):
            auc = f"{v.val_auc:.3f}" if v.val_auc is not None else "—"
            self.stdout.write(
                f"{'*' if v.is_active else ' '} {v.pk:>4}  {v.name} {v.version}  {v.arch}@{v.img_size}  "
                f"threshold={v.threshold:.3f}  val_auc={auc}"
                f"{'  [demo — not for clinical use]' if v.is_demo else ''}"
            )

    def _activate(self, options):
        version = ModelVersion.objects.filter(pk=options["id"]).first()
        if version is None:
            raise CommandError(f"No model version {options['id']}.")
        services.model_version_activate(model_version=version)
        self.stdout.write(f"{version} is now active.")

    def _import(self, options):
        from classifier.inference.artifact import ArtifactFormatError, load_artifact, save_artifact, sha256_file

        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"{path} does not exist.")
        try:
            artifact = load_artifact(path, expected_sha256=None)
            meta, artifact_path, sha256 = dict(artifact.meta), path, artifact.sha256
        except ArtifactFormatError:
            meta, artifact_path, sha256 = self._wrap_state_dict(path, options, save_artifact, sha256_file)
        for key in ("name", "version"):
            if options.get(key):
                meta[key] = options[key]
        version = services.model_version_register(
            artifact_path=str(artifact_path),
            sha256=sha256,
            meta=meta,
            is_demo=options["demo"] or bool(meta.get("is_demo")),
            activate=options["activate"],
        )
        self.stdout.write(f"registered {version} as id {version.pk} (active={version.is_active})")

    def _wrap_state_dict(self, path, options, save_artifact, sha256_file):
        import torch

        from classifier.inference.artifact import build_meta
        from classifier.inference.preprocessing import Preprocess

        if not options["arch"] or options["threshold"] is None:
            raise CommandError("A plain state dict needs --arch and --threshold (and --num-classes/--class-names).")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        class_names = [c.strip() for c in options["class_names"].split(",")]
        color = None if options["color_constancy"] == "none" else options["color_constancy"]
        meta = build_meta(
            arch=options["arch"],
            num_classes=options["num_classes"],
            class_names=class_names,
            melanoma_index=options["melanoma_index"],
            preprocess=Preprocess(img_size=options["img_size"], color_constancy=color),
            threshold=options["threshold"],
            calibration=json.loads(options["calibration"]),
            is_demo=options["demo"],
            name=options["name"] or options["arch"],
            version=options["version"] or dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S"),
        )
        out = Path(tempfile.mkdtemp(prefix="naevus-import-")) / "model.naevus.pt"
        sha256 = save_artifact(out, state_dict=state, meta=meta)
        return meta, out, sha256
