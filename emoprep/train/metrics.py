"""Metrics of predicted class indices per task (scikit-learn), and the joint label encoding.

``joint`` class of (emotion e, authenticity a) is ``e * n_authenticity + a``, named ``"e/a"``; its
predictions are decoded back to both tasks. Combined accuracy = share of samples with every task
right (the SASE-FE thesis's measure; for ``joint`` it equals the joint accuracy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score

from emoprep.errors import ConfigError
from emoprep.train.data import Sequences

EMO, AUTH, JOINT = "emotion", "authenticity", "joint"


def with_joint(seqs: Sequences) -> Sequences:
    """``seqs`` with labels/classes ``joint`` added from ``emotion`` and ``authenticity``."""
    missing = [k for k in (EMO, AUTH) if k not in seqs.labels]
    if missing:
        raise ConfigError("train.task", [f"task 'joint' needs labels {missing}; the sequences "
                                         f"have {sorted(seqs.labels)}; pick another task"])
    n_a = len(seqs.classes[AUTH])
    labels = {**seqs.labels, JOINT: seqs.labels[EMO] * n_a + seqs.labels[AUTH]}
    names = [f"{e}/{a}" for e in seqs.classes[EMO] for a in seqs.classes[AUTH]]
    return Sequences(seqs.features, seqs.face_mask, labels, {**seqs.classes, JOINT: names},
                     seqs.subjects, seqs.video_ids, seqs.augmented)


def task_scores(y: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """(N,), (N,) ints -> accuracy, macro-F1 (over the classes present), confusion (K, K)."""
    k = list(range(len(classes)))
    return {"accuracy": float(accuracy_score(y, pred)),
            "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
            "confusion": confusion_matrix(y, pred, labels=k).tolist(), "classes": list(classes)}


def macro_precision(y: np.ndarray, pred: np.ndarray) -> float:
    """Macro precision over the classes present in ``y`` or ``pred`` (0 where nothing predicted)."""
    return float(precision_score(y, pred, average="macro", zero_division=0))


def combined_accuracy(ys: dict[str, np.ndarray], preds: dict[str, np.ndarray]) -> float:
    """Share of samples whose every task is right; tasks given as dicts of (N,) arrays."""
    right = np.ones(len(next(iter(ys.values()))), bool)
    for k, y in ys.items():
        right &= np.asarray(preds[k]) == np.asarray(y)
    return float(right.mean()) if len(right) else float("nan")


def evaluate(probs: dict[str, np.ndarray], ys: dict[str, np.ndarray],
             classes: dict[str, list[str]]) -> dict[str, Any]:
    """Per-target scores from (N, K) probabilities; ``joint`` also decoded into both tasks.

    Returns ``{task: task_scores, ..., "combined_accuracy": float}``; the combined accuracy is
    present when two tasks are scored.
    """
    preds = {k: p.argmax(axis=1) for k, p in probs.items()}
    ys = dict(ys)
    if JOINT in preds and EMO in classes and AUTH in classes:
        n_a = len(classes[AUTH])
        for name, fn in ((EMO, np.floor_divide), (AUTH, np.remainder)):
            preds[name], ys[name] = fn(preds[JOINT], n_a), fn(ys[JOINT], n_a)
    out: dict[str, Any] = {k: task_scores(ys[k], preds[k], classes[k]) for k in preds}
    if EMO in preds and AUTH in preds:
        out["combined_accuracy"] = combined_accuracy(
            {EMO: ys[EMO], AUTH: ys[AUTH]}, {EMO: preds[EMO], AUTH: preds[AUTH]})
    return out


def headline(scores: dict[str, Any]) -> dict[str, float]:
    """Flat scalars of :func:`evaluate`: ``{"emotion/accuracy": .., "combined_accuracy": ..}``."""
    flat: dict[str, float] = {}
    for k, v in scores.items():
        if isinstance(v, dict):
            flat[f"{k}/accuracy"] = v["accuracy"]
            flat[f"{k}/macro_f1"] = v["macro_f1"]
        else:
            flat[k] = float(v)
    return flat


def mean_std(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per key over rows: ``{"mean": .., "std": .., "n": ..}`` (population std, as numpy)."""
    keys = sorted({k for r in rows for k in r})
    out = {}
    for k in keys:
        vals = np.array([r[k] for r in rows if k in r], np.float64)
        out[k] = {"mean": float(vals.mean()), "std": float(vals.std()), "n": int(len(vals))}
    return out


def _curve_key(log_key: str, n_targets: int) -> str | None:
    """Headline name of an epoch-log column: ``val_emotion_acc`` -> ``emotion/accuracy``;
    ``val_acc`` (the selection accuracy) -> ``combined_accuracy`` when several targets."""
    if log_key == "val_acc":
        return "combined_accuracy" if n_targets > 1 else None
    if log_key.startswith("val_") and log_key.endswith("_acc"):
        return f"{log_key[4:-4]}/accuracy"
    return None


def mean_curve(logs: list[list[dict[str, float]]]) -> dict[str, Any] | None:
    """The CV figure of 003 §3.2.3: the folds' validation curves averaged epoch by epoch, then the
    best epoch of that mean curve (of the selection accuracy ``val_acc``; the first when tied).

    ``logs``: per fold the epoch rows of :class:`emoprep.train.loop.FitResult` (``val_acc``,
    ``val_<task>_acc``). Folds that stopped early have shorter curves: only the epochs every fold
    ran (``epochs``) are averaged. Returns ``{"method": "mean_curve", "best_epoch" (1-based),
    "epochs", "curve" (mean ``val_acc`` per epoch), "values": {headline key: {"mean", "std",
    "n"}}}`` with each key's fold mean and population std at the best epoch; None without curves.
    """
    logs = [log for log in logs if log and "val_acc" in log[0]]
    if not logs:
        return None
    n = min(len(log) for log in logs)
    cols = [k for k in logs[0][0] if k.startswith("val_") and k.endswith("acc")
            and all(k in row for log in logs for row in log[:n])]
    curves = {k: np.array([[row[k] for row in log[:n]] for log in logs], np.float64) for k in cols}
    mean = curves["val_acc"].mean(axis=0)
    best = int(np.argmax(mean))
    n_targets = sum(1 for k in cols if k != "val_acc")
    values = {}
    for k, c in curves.items():
        name = _curve_key(k, n_targets)
        if name is not None:
            at = c[:, best]
            values[name] = {"mean": float(at.mean()), "std": float(at.std()), "n": int(len(at))}
    return {"method": "mean_curve", "best_epoch": best + 1, "epochs": n,
            "curve": [float(v) for v in mean], "values": values}
