"""The linear probe: multinomial logistic regression on each item's mean feature vector.

Every ``emoprep train`` run fits it on the same folds as the head, so a head that loses to a
five-line baseline shows at once. Per fold and target: the mean of each item's frames (D,), scaled
with the training part's statistics (``StandardScaler``), then scikit-learn's
``LogisticRegression`` (lbfgs, L2, C = :data:`C`, multinomial); deterministic. The test part is
scored by the probe of each fold (mean +- std as for the head) and, with a final model, by a probe
fit on every fold's items.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoprep.train.data import Folds, Sequences
from emoprep.train.metrics import evaluate

#: inverse L2 strength of the probe (scikit-learn's default; standardised inputs)
C = 1.0
MAX_ITER = 2000


def pooled(seqs: Sequences, idx: np.ndarray) -> np.ndarray:
    """(len(idx), D) float64: the mean over frames of each chosen item."""
    return np.stack([np.asarray(seqs.features[i], np.float64).mean(0)
                     for i in np.asarray(idx, np.int64)]) if len(idx) else np.zeros((0, seqs.dim))


def _fit_predict(x_tr: np.ndarray, y_tr: np.ndarray, x_ev: np.ndarray, k: int) -> np.ndarray:
    """(N_ev, k) class probabilities; one class in training gives that class probability 1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    out = np.zeros((len(x_ev), k))
    present = np.unique(y_tr)
    if len(present) < 2 or len(x_ev) == 0:
        out[:, present[0] if len(present) else 0] = 1.0
        return out
    scaler = StandardScaler().fit(x_tr)
    model = LogisticRegression(C=C, max_iter=MAX_ITER)
    model.fit(scaler.transform(x_tr), y_tr)
    out[:, model.classes_] = model.predict_proba(scaler.transform(x_ev))
    return out


def probe_scores(seqs: Sequences, targets: list[str], train_idx: np.ndarray,
                 eval_idx: np.ndarray) -> dict[str, Any] | None:
    """Scores (as :func:`emoprep.train.metrics.evaluate`) of a probe fit on ``train_idx``,
    evaluated on ``eval_idx``; None when ``eval_idx`` is empty."""
    if len(eval_idx) == 0:
        return None
    x_tr, x_ev = pooled(seqs, train_idx), pooled(seqs, eval_idx)
    probs = {t: _fit_predict(x_tr, seqs.labels[t][train_idx], x_ev, len(seqs.classes[t]))
             for t in targets}
    ys = {t: seqs.labels[t][eval_idx] for t in targets}
    classes = {t: seqs.classes[t] for t in (*targets, "emotion", "authenticity")
               if t in seqs.classes}
    return evaluate(probs, ys, classes)


def probe_folds(seqs: Sequences, folds: Folds, targets: list[str], only: list[int] | None,
                final: bool) -> dict[str, Any]:
    """``{"folds": [{"name", "val", "test"}], "final": {"test"} | None}`` on the run's folds."""
    test = np.asarray(folds.test, np.int64)
    rows = []
    for k in only if only is not None else range(len(folds.folds)):
        tr, va = (np.asarray(a, np.int64) for a in folds.folds[k])
        rows.append({"name": f"fold{k}", "val": probe_scores(seqs, targets, tr, va),
                     "test": probe_scores(seqs, targets, tr, test)})
    last = None
    if final and only is None:
        everyone = np.unique(np.concatenate([np.concatenate(f) for f in folds.folds]))
        last = {"name": "final", "test": probe_scores(seqs, targets, everyone, test)}
    return {"folds": rows, "final": last}
