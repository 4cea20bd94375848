"""PNG plots of one evaluation: ROC, PR, reliability (classifier.inference.plots), confusion matrix, training curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from classifier.inference.plots import save_figure  # noqa: E402


def roc_plot(curves: dict[str, tuple[Sequence[int], Sequence[float]]], path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, (y, p) in curves.items():
        if len(set(y)) == 2:
            fpr, tpr, _ = roc_curve(y, p)
            ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def pr_plot(curves: dict[str, tuple[Sequence[int], Sequence[float]]], path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, (y, p) in curves.items():
        if sum(y):
            precision, recall, _ = precision_recall_curve(y, p)
            ax.plot(recall, precision, label=label)
    ax.set(
        xlabel="recall (sensitivity)", ylabel="precision (PPV)", title="Precision-recall", xlim=(0, 1), ylim=(0, 1.01)
    )
    ax.legend(loc="lower left", fontsize=8)
    return save_figure(fig, path)


def confusion_plot(counts: dict[str, int], path: Path, *, title: str = "Confusion matrix (test)") -> str:
    matrix = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]])
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > matrix.max() / 2 else "black")
    ax.set_xticks([0, 1], ["benign", "melanoma"])
    ax.set_yticks([0, 1], ["benign", "melanoma"])
    ax.set(xlabel="predicted", ylabel="truth", title=title)
    return save_figure(fig, path)


def curves_plot(history: Sequence[dict[str, float]], path: Path) -> str:
    epochs = [h["epoch"] + 1 for h in history]
    fig, (loss_ax, auc_ax) = plt.subplots(1, 2, figsize=(9, 4))
    loss_ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    loss_ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="Loss")
    loss_ax.legend(fontsize=8)
    auc_ax.plot(epochs, [h["val_auc"] for h in history], marker="o", color="tab:green")
    auc_ax.set(xlabel="epoch", ylabel="ROC AUC", title="Validation ROC AUC", ylim=(0, 1))
    return save_figure(fig, path)
