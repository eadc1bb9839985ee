"""Late fusion of trained runs: combine their softmax outputs per fold, then score.

Methods (the video-FER thesis): ``average`` (mean of the probabilities), ``weighted`` (weighted
mean, each run's weight for a task = its mean validation accuracy on that task over the folds,
normalised to sum 1) and ``max`` (element-wise maximum; the class of the largest single
probability wins). Runs must share the split (digest), the task and the class lists; fold k of
every run is fused with fold k of the others on the same validation videos. Test outputs are fused
per fold and, when every run has a final model, for the final models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.errors import ConfigError
from emoprep.train.config import FusionMethod
from emoprep.train.metrics import evaluate, headline, mean_std
from emoprep.train.units import load_outputs


def _load_runs(run_dirs: list[Path]) -> list[dict[str, Any]]:
    runs = []
    for d in run_dirs:
        path = Path(d) / "metrics.json"
        if not path.is_file():
            raise ConfigError("fusion", [f"run {d}: no metrics.json; expected a run folder "
                                         f"written by emoprep.train.fit (runs/<name>/)"])
        runs.append({**json.loads(path.read_text()), "dir": Path(d)})
    if not runs:
        raise ConfigError("fusion", ["no runs given; pass at least one run folder"])
    problems = [f"run {r['run']}: {key} differs from run {runs[0]['run']}"
                for r in runs[1:] for key in ("split_digest", "classes")
                if r[key] != runs[0][key]]
    problems += [f"run {r['run']}: task {r['config']['task']} differs from run {runs[0]['run']}"
                 for r in runs[1:] if r["config"]["task"] != runs[0]["config"]["task"]]
    problems += [f"run {r['run']}: {len(r['folds'])} folds, expected {len(runs[0]['folds'])}"
                 for r in runs[1:] if len(r["folds"]) != len(runs[0]["folds"])]
    if problems:
        raise ConfigError("fusion", problems)
    return runs


def run_weights(runs: list[dict[str, Any]], targets: list[str]) -> dict[str, np.ndarray]:
    """Per target (R,) weights: mean validation accuracy of each run, normalised to sum 1."""
    out = {}
    for t in targets:
        w = np.array([r["summary"]["val"][f"{t}/accuracy"]["mean"] for r in runs], np.float64)
        out[t] = w / w.sum() if w.sum() > 0 else np.full(len(runs), 1 / len(runs))
    return out


def combine_probs(probs: list[np.ndarray], method: FusionMethod,
                  weights: np.ndarray | None = None) -> np.ndarray:
    """R arrays (N, K) -> (N, K) fused scores."""
    stack = np.stack(probs)
    if method is FusionMethod.MAX:
        return stack.max(axis=0)
    if method is FusionMethod.WEIGHTED:
        return np.tensordot(np.asarray(weights), stack, axes=1)
    return stack.mean(axis=0)


def _fuse_part(outs: list[dict[str, Any]], method: FusionMethod, weights: dict[str, np.ndarray],
               classes: dict[str, list[str]], where: str) -> dict[str, Any]:
    first = outs[0]
    for o in outs[1:]:
        if not np.array_equal(o["index"], first["index"]):
            raise ConfigError("fusion", [f"{where}: runs scored different videos; fuse runs "
                                         "trained on the same split and sequences"])
    fused = {t: combine_probs([o["probs"][t] for o in outs], method, weights.get(t))
             for t in first["probs"]}
    return evaluate(fused, first["labels"], classes)


def fuse(run_dirs: list[str | Path], method: FusionMethod | str = FusionMethod.AVERAGE,
         out_dir: str | Path | None = None) -> dict[str, Any]:
    """Fuse the runs' outputs fold by fold; returns (and writes to ``out_dir``) the metrics."""
    method = FusionMethod(method)
    runs = _load_runs([Path(d) for d in run_dirs])
    folds, finals = [], None
    for k, entry in enumerate(runs[0]["folds"]):
        outs = [load_outputs(r["dir"] / r["folds"][k]["unit_dir"] / "outputs.npz") for r in runs]
        weights = run_weights(runs, list(outs[0]["val"]["probs"]))
        fold = {"name": entry["name"],
                "val": _fuse_part([o["val"] for o in outs], method, weights,
                                  runs[0]["classes"], entry["name"])}
        fold["test"] = _fuse_part([o["test"] for o in outs], method, weights, runs[0]["classes"],
                                  entry["name"]) if "test" in outs[0] else None
        folds.append(fold)
    if all(r["final"] for r in runs):
        outs = [load_outputs(r["dir"] / r["final"]["unit_dir"] / "outputs.npz") for r in runs]
        if "test" in outs[0]:
            finals = _fuse_part([o["test"] for o in outs], method, weights, runs[0]["classes"],
                                "final")
    metrics = {"method": method.value, "runs": [r["run"] for r in runs],
               "weights": {t: w.tolist() for t, w in weights.items()}, "folds": folds,
               "final_test": finals,
               "summary": {"val": mean_std([headline(f["val"]) for f in folds]),
                           "test": mean_std([headline(f["test"]) for f in folds if f["test"]])}}
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / f"fusion_{method.value}.json").write_text(json.dumps(metrics, indent=1))
    return metrics
