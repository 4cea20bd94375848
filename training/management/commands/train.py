"""`manage.py train`: run the DDP training job and register its model as a candidate version."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from training.core.config import TrainConfig
from training.services import Launch, TrainingError, training_fuse, training_ood, training_register, training_run


def add_training_arguments(parser) -> None:
    defaults = TrainConfig(data=["-:-"], out="-")
    parser.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="CSV:IMAGES",
        help="SIIM-ISIC labels CSV and its image folder; repeat to combine sources",
    )
    parser.add_argument(
        "--external",
        action="append",
        default=[],
        metavar="CSV:IMAGES",
        help="evaluation-only source, never trained on, reported separately",
    )
    parser.add_argument(
        "--task",
        choices=["binary", "diagnosis"],
        default=defaults.task,
        help="diagnosis (default): the ISIC 2019 classes, triage on P(melanoma); binary: melanoma vs rest",
    )
    parser.add_argument("--arch", default=defaults.arch)
    parser.add_argument("--init", default=defaults.init, help="imagenet, none or a weights file")
    parser.add_argument("--img-size", type=int, default=defaults.img_size)
    parser.add_argument("--color-constancy", choices=["shades_of_gray", "none"], default="shades_of_gray")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--accum-steps", type=int, default=defaults.accum_steps)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--warmup-epochs", type=float, default=defaults.warmup_epochs)
    parser.add_argument("--freeze-backbone-epochs", type=int, default=defaults.freeze_backbone_epochs)
    parser.add_argument(
        "--freeze-blocks", type=int, default=defaults.freeze_blocks, help="keep the stem and first N stages frozen"
    )
    parser.add_argument("--ema-decay", type=float, default=defaults.ema_decay, help="0 disables EMA")
    parser.add_argument("--imbalance", choices=["weighted_loss", "sampler", "none"], default=defaults.imbalance)
    parser.add_argument(
        "--balance-sources",
        type=float,
        nargs="?",
        const=1.0,
        default=defaults.balance_sources,
        metavar="POWER",
        help="draw each image with weight (its source's size)^-POWER: 1 (the default when given) draws every "
        "source equally often, 0.5 in proportion to the square root of its size, 0 the natural mix",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="where decoded pixels are packed once and reused (default: var/cache/pixels)",
    )
    parser.add_argument("--augment", choices=["strong", "light", "none"], default=defaults.augment)
    parser.add_argument("--folds", type=int, default=defaults.folds)
    parser.add_argument("--fold", type=int, default=defaults.fold, help="test fold; the next one validates")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--amp", choices=["auto", "bf16", "fp16", "none"], default=defaults.amp)
    parser.add_argument("--workers", type=int, default=defaults.workers, help="data-loader workers per rank")
    parser.add_argument("--tta", action="store_true", help="also report 8-way flip test-time augmentation")
    parser.add_argument(
        "--serve-views",
        type=int,
        choices=[1, 2, 4, 8],
        default=defaults.serve_views,
        help="dihedral views the served model averages (one ONNX batch); calibration and threshold fit them",
    )
    parser.add_argument("--target-sensitivity", type=float, default=defaults.target_sensitivity)
    parser.add_argument("--calibration", choices=["temperature", "platt", "none"], default=defaults.calibration)
    parser.add_argument("--bootstrap", type=int, default=defaults.bootstrap)
    parser.add_argument("--name", default=defaults.name)
    parser.add_argument("--model-version", default="", help="version label (default: a UTC timestamp)")
    parser.add_argument("--nproc-per-node", type=int, default=1)
    parser.add_argument("--nnodes", type=int, default=1)
    parser.add_argument("--node-rank", type=int, default=0)
    parser.add_argument("--master-addr", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, default=29500)
    parser.add_argument("--no-progress", action="store_true")


def config_from_options(options: dict, *, out: str, is_demo: bool) -> TrainConfig:
    return TrainConfig(
        data=options["data"],
        external=options["external"],
        out=out,
        task=options["task"],
        arch=options["arch"],
        init=options["init"],
        img_size=options["img_size"],
        color_constancy=None if options["color_constancy"] == "none" else options["color_constancy"],
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        accum_steps=options["accum_steps"],
        lr=options["lr"],
        weight_decay=options["weight_decay"],
        warmup_epochs=options["warmup_epochs"],
        freeze_backbone_epochs=options["freeze_backbone_epochs"],
        freeze_blocks=options["freeze_blocks"],
        balance_sources=options["balance_sources"],
        cache_dir=options["cache_dir"] or str(Path(settings.BASE_DIR) / "var" / "cache" / "pixels"),
        ema_decay=options["ema_decay"],
        imbalance=options["imbalance"],
        augment=options["augment"],
        folds=options["folds"],
        fold=options["fold"],
        seed=options["seed"],
        amp=options["amp"],
        workers=options["workers"],
        tta=options["tta"],
        serve_views=options["serve_views"],
        target_sensitivity=options["target_sensitivity"],
        calibration=options["calibration"],
        bootstrap=options["bootstrap"],
        resume=options.get("resume", False),
        progress=not options["no_progress"],
        name=options["name"],
        version=options["model_version"],
        is_demo=is_demo,
    )


def launch_from_options(options: dict) -> Launch:
    return Launch(
        nproc_per_node=options["nproc_per_node"],
        nnodes=options["nnodes"],
        node_rank=options["node_rank"],
        master_addr=options["master_addr"],
        master_port=options["master_port"],
    )


class Command(BaseCommand):
    help = "Train a melanoma classifier (PyTorch DDP via torchrun) and register it as an inactive model version."

    def add_arguments(self, parser):
        add_training_arguments(parser)
        parser.add_argument("--out", help="run folder (default: var/training/<timestamp>)")
        parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
        parser.add_argument(
            "--activate-if-better",
            action="store_true",
            help="activate if its validation ROC AUC beats the active version's",
        )
        parser.add_argument("--demo", action="store_true", help="label the version as a demo, not for clinical use")
        parser.add_argument("--no-register", action="store_true", help="train and evaluate only")
        parser.add_argument(
            "--fusion",
            action="store_true",
            help="fit the metadata (age, sex, site) fusion head on validation and serve it: stored in the "
            "artifact with its refitted calibration and threshold (training.core.fusion --write)",
        )
        parser.add_argument(
            "--no-ood",
            action="store_true",
            help="skip the out-of-distribution statistics (by default fitted on the training split, threshold "
            "from validation, and stored in the artifact: training.core.ood --run)",
        )

    def handle(self, *args, **options):
        out = options["out"] or str(
            Path(settings.BASE_DIR) / "var" / "training" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        )
        try:
            cfg = config_from_options(options, out=out, is_demo=options["demo"])
            result = training_run(cfg=cfg, launch=launch_from_options(options))
            if result is not None and options["fusion"]:
                result = training_fuse(out=cfg.out_dir)
            if result is not None and not options["no_ood"]:
                result = training_ood(out=cfg.out_dir)
        except (ValueError, TrainingError) as exc:
            raise CommandError(str(exc)) from exc
        if result is None:
            self.stdout.write(f"node {options['node_rank']} done; node 0 registers the model")
            return
        test = result["meta"]["metrics"].get("test", {})
        self.stdout.write(
            f"artifact {result['artifact']} sha256 {result['sha256']}; "
            f"test ROC AUC {test.get('roc_auc')} (95% CI {test.get('roc_auc_ci95')})"
        )
        if options["no_register"]:
            return
        version = training_register(
            result=result, is_demo=options["demo"], activate_if_better=options["activate_if_better"]
        )
        state = "active" if version.is_active else "inactive"
        self.stdout.write(self.style.SUCCESS(f"registered model version {version.pk} ({state})"))
