"""PNG figures of a training run (matplotlib, Agg backend, imported on use)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_png(path: Path, confusion: list[list[int]], classes: list[str],
                  title: str = "") -> None:
    """Counts (K, K), rows true, columns predicted, with the count in each cell; ``title`` names
    the head's accuracy and the linear probe's."""
    plt = _pyplot()
    cm = np.asarray(confusion)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * k, 1.0 + 0.5 * k), dpi=100)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=8)
    top = cm.max() if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def curves_png(path: Path, logs: dict[str, list[dict[str, float]]],
               probe: dict[str, float | None] | None = None) -> None:
    """Loss (left) and selection accuracy (right) per epoch; solid train, dashed validation,
    dotted: the linear probe's validation accuracy of the same fold (``probe``: name -> value)."""
    plt = _pyplot()
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for i, (name, rows) in enumerate(logs.items()):
        color = f"C{i % 10}"
        ep = [r["epoch"] for r in rows]
        for ax, key in ((ax_l, "loss"), (ax_a, "acc")):
            ax.plot(ep, [r[f"train_{key}"] for r in rows], color=color, label=f"{name} train")
            if rows and f"val_{key}" in rows[0]:
                ax.plot(ep, [r[f"val_{key}"] for r in rows], color=color, ls="--",
                        label=f"{name} val")
        line = (probe or {}).get(name)
        if line is not None:
            ax_a.axhline(line, color=color, ls=":", label=f"{name} linear probe")
    ax_l.set_title("loss")
    ax_a.set_title("accuracy (selection)")
    for ax in (ax_l, ax_a):
        ax.set_xlabel("epoch")
    ax_a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
