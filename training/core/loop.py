"""The training loop: one code path for a CPU laptop, one GPU, or many nodes under torchrun."""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from tqdm import tqdm

from classifier.inference.engine import TTA_ORDER
from classifier.inference.metrics import roc_auc, uncalibrated_probability
from training.core import checkpoint
from training.core.config import TrainConfig
from training.core.dataset import LesionDataset, normalize_batch, seed_worker
from training.core.distributed import Runtime

log = logging.getLogger(__name__)


# Precision ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Precision:
    dtype: torch.dtype | None

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)

    @property
    def needs_scaler(self) -> bool:
        return self.dtype == torch.float16


def choose_precision(amp: str, device: torch.device) -> Precision:
    """bf16 where the GPU has it, else fp16 with loss scaling; full precision on CPU unless asked."""
    if amp == "none":
        return Precision(None)
    if amp == "auto":
        if device.type != "cuda":
            return Precision(None)
        return Precision(torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return Precision({"bf16": torch.bfloat16, "fp16": torch.float16}[amp])


# Sampling ----------------------------------------------------------------------------------------


class DistributedWeightedSampler(Sampler[int]):
    """Draws with replacement by weight; every rank draws the same sequence and takes its stride."""

    def __init__(self, weights: list[float], *, rank: int, world_size: int, seed: int) -> None:
        self.weights = torch.as_tensor(weights, dtype=torch.double)
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.num_samples = math.ceil(len(weights) / world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        drawn = torch.multinomial(self.weights, self.num_samples * self.world_size, True, generator=generator)
        return iter(drawn[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return self.num_samples


def class_weights(labels: list[int], num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights normalised to mean 1 over the classes present."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
    return torch.as_tensor(weights, dtype=torch.float32)


# Schedule ----------------------------------------------------------------------------------------


def warmup_cosine(total_steps: int, warmup_steps: int, floor: float = 0.01) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def format_eta(seconds: float) -> str:
    """Time left for the whole run (training images only; evaluation adds a little per epoch)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# Prediction --------------------------------------------------------------------------------------


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th of the 8 rotations/reflections of a square NCHW batch."""
    x = torch.rot90(x, k % 4, dims=(2, 3))
    return torch.flip(x, dims=(3,)) if k >= 4 else x


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: LesionDataset,
    *,
    runtime: Runtime,
    batch_size: int,
    precision: Precision,
    channels_last: bool,
    views: int = 1,
    workers: int = 0,
) -> np.ndarray:
    """Logits (N, C) in dataset order, each rank scoring a stride of the dataset.

    ``views`` > 1 averages the logits of the first ``views`` dihedral transforms (test-time
    augmentation: 2 = identity and horizontal flip, 4 = both flips and the half turn, 8 = all)."""
    if views not in (1, 2, 4, 8):
        raise ValueError("views must be 1, 2, 4 or 8")
    model.eval()
    shard = list(range(runtime.rank, len(dataset), runtime.world_size))
    loader = DataLoader(torch.utils.data.Subset(dataset, shard), batch_size=batch_size, num_workers=workers)
    indices, outputs = [], []
    for pixels, _, index in loader:
        images = _model_input(pixels, dataset, runtime.device, channels_last)
        with precision.autocast(runtime.device):
            logits = torch.stack([model(dihedral(images, k)).float() for k in TTA_ORDER[:views]]).mean(0)
        indices.append(index.numpy())
        outputs.append(logits.cpu().numpy())
    local = (
        np.concatenate(indices) if indices else np.zeros(0, dtype=int),
        np.concatenate(outputs) if outputs else np.zeros((0, 0), dtype=np.float32),
    )
    gathered = runtime.all_gather(local)
    order = np.concatenate([g[0] for g in gathered])
    logits = np.concatenate([g[1] for g in gathered if len(g[0])])
    result = np.empty_like(logits)
    result[order] = logits
    return result


def _model_input(
    pixels: torch.Tensor, dataset: LesionDataset, device: torch.device, channels_last: bool
) -> torch.Tensor:
    images = normalize_batch(pixels.to(device, non_blocking=True), dataset.preprocess)
    return images.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


# Training ----------------------------------------------------------------------------------------


@torch.no_grad()
def average_buffers(model: nn.Module, runtime: Runtime) -> None:
    """Average BatchNorm running statistics over ranks (timm's `distribute_bn`, reduce mode).

    DDP keeps parameters identical but each rank's last forward pass updates its own running
    statistics; without this the ranks would evaluate and checkpoint slightly different models.
    """
    if not runtime.distributed:
        return
    for name, buffer in model.named_buffers():
        if buffer.is_floating_point() and ("running_mean" in name or "running_var" in name):
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer /= runtime.world_size


@dataclass
class FitResult:
    best_state: dict[str, torch.Tensor]
    best_epoch: int
    best_val_auc: float
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int | None = None


def _head_names(model: nn.Module) -> set[str]:
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
    if classifier is None:
        return set()
    return {f"{name}" for name, p in model.named_parameters() if any(p is q for q in classifier.parameters())}


def _set_backbone_trainable(model: nn.Module, trainable: bool) -> None:
    head = _head_names(model)
    for name, param in model.named_parameters():
        if name not in head:
            param.requires_grad_(trainable)


def make_sampler(cfg: TrainConfig, runtime: Runtime, train_set: LesionDataset, *, num_classes: int) -> Sampler[int]:
    """Plain shuffling, or weighted draws that even out classes (`imbalance="sampler"`) and/or sources.

    Balancing sources with power p draws each image with weight (size of its source)^-p, so each
    source's share of an epoch is proportional to size^(1-p): at p = 1 every source is drawn equally
    often (a 2,000-image source is not drowned by a 10,000-image one, but a 100-image one is then
    repeated dozens of times per epoch); at p = 0.5 shares follow the square root of the sizes.
    """
    if not 0 <= cfg.balance_sources <= 1:
        raise ValueError(f"balance_sources must be a power in [0, 1], not {cfg.balance_sources}")
    weights = np.ones(len(train_set), dtype=float)
    if cfg.imbalance == "sampler":
        per_class = class_weights(train_set.labels, num_classes).numpy()
        weights *= per_class[np.asarray(train_set.labels)]
    if cfg.balance_sources:
        sources = [r.source for r in train_set.records]
        counts = {source: sources.count(source) for source in set(sources)}
        weights *= np.asarray([float(counts[s]) ** -cfg.balance_sources for s in sources])
    if cfg.imbalance == "sampler" or cfg.balance_sources:
        return DistributedWeightedSampler(
            weights.tolist(), rank=runtime.rank, world_size=runtime.world_size, seed=cfg.seed
        )
    return DistributedSampler(
        train_set, num_replicas=runtime.world_size, rank=runtime.rank, shuffle=True, seed=cfg.seed
    )


def frozen_prefix(model: nn.Module, blocks: int) -> list[nn.Module]:
    """The stem and the first `blocks` stages of a timm EfficientNet-style model.

    Early stages run at the highest resolution, so skipping their backward pass saves the most
    time on a CPU, and their ImageNet edge and texture filters transfer to dermoscopy as they are.
    """
    if blocks <= 0:
        return []
    stages = getattr(model, "blocks", None)
    if stages is None or not hasattr(model, "conv_stem"):
        raise ValueError(f"freeze_blocks needs a timm EfficientNet-style model (conv_stem + blocks), not {type(model)}")
    if blocks > len(stages):
        raise ValueError(f"freeze_blocks={blocks} but the model has {len(stages)} stages")
    return [model.conv_stem, model.bn1, *list(stages)[:blocks]]


def _wrap(model: nn.Module, runtime: Runtime) -> nn.Module:
    if not runtime.distributed:
        return model
    device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def fit(
    cfg: TrainConfig,
    runtime: Runtime,
    model: nn.Module,
    train_set: LesionDataset,
    val_set: LesionDataset,
    *,
    num_classes: int,
    melanoma_index: int,
) -> FitResult:
    device = runtime.device
    precision = choose_precision(cfg.amp, device)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)

    sampler = make_sampler(cfg, runtime, train_set, num_classes=num_classes)
    loss_weight = class_weights(train_set.labels, num_classes).to(device) if cfg.imbalance == "weighted_loss" else None
    loader = DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.workers,
        worker_init_fn=seed_worker,
        pin_memory=device.type == "cuda",
        # A trailing batch of one image would break BatchNorm in training mode.
        drop_last=len(sampler) > cfg.batch_size,
        persistent_workers=False,
    )

    prefix = frozen_prefix(model, cfg.freeze_blocks)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(loader) / cfg.accum_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(steps_per_epoch * cfg.epochs, max(1, round(cfg.warmup_epochs * steps_per_epoch)))
    )
    scaler = torch.amp.GradScaler(device.type, enabled=precision.needs_scaler)
    ema = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        if cfg.ema_decay
        else None
    )

    ckpt_dir = cfg.out_dir / "checkpoints"
    history: list[dict[str, float]] = []
    best_auc, best_epoch, start_epoch, resumed_from = -1.0, -1, 0, None
    best_state: dict[str, torch.Tensor] = {}
    last = checkpoint.latest(ckpt_dir) if cfg.resume else None
    if last is not None:
        state = checkpoint.load(last)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        history, best_auc, best_epoch = state["history"], state["best_val_auc"], state["best_epoch"]
        best_state = checkpoint.load(ckpt_dir / checkpoint.BEST)["model"]
        start_epoch = resumed_from = state["epoch"] + 1
        if runtime.is_primary:
            log.info("resumed from %s: continuing at epoch %d", last, start_epoch + 1)

    net, wrapped_frozen = model, None
    for epoch in range(start_epoch, cfg.epochs):
        # Seeding per epoch makes a resumed run draw the same augmentations as an uninterrupted one.
        epoch_seed = cfg.seed + 1000 * epoch + runtime.rank
        torch.manual_seed(epoch_seed)
        np.random.seed(epoch_seed)
        random.seed(epoch_seed)
        train_set.reseed(epoch_seed)
        frozen = epoch < cfg.freeze_backbone_epochs
        if frozen != wrapped_frozen:
            # DDP fixes its set of gradient buckets at construction: re-wrap when it changes.
            _set_backbone_trainable(model, not frozen)
            for module in prefix:
                module.requires_grad_(False)
            net, wrapped_frozen = _wrap(model, runtime), frozen
        sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        net.train()
        for module in prefix:
            # Frozen stages keep their ImageNet BatchNorm statistics too.
            module.eval()
        seen, loss_sum, started = 0, 0.0, time.perf_counter()
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{cfg.epochs}{' (head only)' if frozen else ''}",
            disable=not (runtime.is_primary and cfg.progress),
            leave=False,
            dynamic_ncols=True,
        )
        optimizer.zero_grad(set_to_none=True)
        for step, (pixels, labels, _) in enumerate(bar):
            images = _model_input(pixels, train_set, device, cfg.channels_last)
            labels = labels.to(device, non_blocking=True)
            boundary = (step + 1) % cfg.accum_steps == 0 or step + 1 == len(loader)
            # Gradients are only all-reduced on the step that updates the weights.
            sync = contextlib.nullcontext() if boundary or not runtime.distributed else net.no_sync()
            with sync:
                with precision.autocast(device):
                    loss = F.cross_entropy(net(images).float(), labels, weight=loss_weight)
                scaler.scale(loss / cfg.accum_steps).backward()
            if boundary:
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                if ema is not None:
                    ema.update_parameters(model)
            seen += images.shape[0]
            loss_sum += loss.item() * images.shape[0]
            rate = seen * runtime.world_size / (time.perf_counter() - started)
            left = (len(loader) - step - 1 + (cfg.epochs - epoch - 1) * len(loader)) * cfg.batch_size
            bar.set_postfix(
                loss=f"{loss_sum / seen:.4f}", img_s=f"{rate:.1f}", run_eta=format_eta(left * runtime.world_size / rate)
            )
        bar.close()
        train_time = time.perf_counter() - started
        average_buffers(model, runtime)
        if ema is not None:
            average_buffers(ema, runtime)
        totals = runtime.all_gather((loss_sum, seen))
        train_loss = sum(t[0] for t in totals) / max(1, sum(t[1] for t in totals))

        scored = ema.module if ema is not None else model
        val_logits = predict(
            scored,
            val_set,
            runtime=runtime,
            batch_size=cfg.batch_size * 2,
            precision=precision,
            channels_last=cfg.channels_last,
        )
        val_labels = np.asarray(val_set.labels)
        val_targets = np.asarray([r.target for r in val_set.records])
        val_loss = float(F.cross_entropy(torch.from_numpy(val_logits), torch.from_numpy(val_labels)))
        val_auc = roc_auc(val_targets, uncalibrated_probability(val_logits, melanoma_index))
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_auc": val_auc,
                "lr": optimizer.param_groups[0]["lr"],
                "train_seconds": train_time,
                "train_img_per_s": sum(t[1] for t in totals) / train_time,
            }
        )
        # Every rank sees the same gathered validation scores, so all reach the same decision.
        improved = not math.isnan(val_auc) and val_auc > best_auc
        if improved or not best_state:
            best_auc, best_epoch = (val_auc if not math.isnan(val_auc) else best_auc), epoch
            best_state = {k: v.detach().cpu().clone() for k, v in scored.state_dict().items()}
        if runtime.is_primary:
            log.info(
                "epoch %d/%d train_loss %.4f val_loss %.4f val_auc %.4f (%.1f img/s)%s",
                epoch + 1,
                cfg.epochs,
                train_loss,
                val_loss,
                val_auc,
                history[-1]["train_img_per_s"],
                " *best*" if improved else "",
            )
            if improved or not (ckpt_dir / checkpoint.BEST).exists():
                checkpoint.atomic_save(
                    {"model": best_state, "epoch": epoch, "val_auc": val_auc}, ckpt_dir / checkpoint.BEST
                )
            checkpoint.atomic_save(
                {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "history": history,
                    "best_val_auc": best_auc,
                    "best_epoch": best_epoch,
                    "config": cfg.to_dict(),
                },
                ckpt_dir / checkpoint.LAST,
            )
        # Nobody races ahead of a checkpoint that a crash right now would need.
        runtime.barrier()

    _set_backbone_trainable(model, True)
    return FitResult(
        best_state=best_state,
        best_epoch=best_epoch,
        best_val_auc=best_auc,
        history=history,
        resumed_from_epoch=resumed_from,
    )
