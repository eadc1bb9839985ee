"""The run folder: everything needed to trust (and trace) one training run's numbers.

``runs/<head>-<task>-<split>-<hash8>/`` (hash of the run's unit fingerprints, so the same run
rewrites the same folder):

- ``config.json`` resolved TrainConfig; ``metrics.json`` (also returned by ``fit``) with the split
  name and digest, features fingerprint, emoprep version, per fold and mean +- std scores, the
  final model's test scores, units trained / reused and where they live;
- ``folds.csv`` one row per fold (validation and test headline scores), ``summary.csv``
  (mean, std per metric), ``table.txt`` (the printed table);
- ``fold<k>/`` (and ``final/``): ``epochs.csv``, ``best.pt`` (hard link to the unit's checkpoint,
  or a copy), ``confusion_<part>_<task>.csv`` and ``.png``;
- ``curves.png`` loss and selection accuracy per epoch, train and validation, every fold, with
  the linear probe's validation accuracy of each fold as a dotted line;
- the linear probe (:mod:`emoprep.train.probe`) on the same folds: ``probe`` in metrics.json,
  ``probe/...`` columns in folds.csv, its rows in the table, and ``versus``: the head's headline
  against the probe's ("lstm 0.9300 vs linear probe 0.9200").
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

from emoprep.pipeline.fingerprint import digest
from emoprep.train.config import CVSummary, TrainConfig
from emoprep.train.metrics import headline, mean_curve, mean_std
from emoprep.train.units import write_log as write_csv
from emoprep.versions import __version__


def run_name(cfg: TrainConfig, split: str, done: dict[str, Any]) -> str:
    fps = [u.fingerprint for u, _, _ in done["folds"]]
    if done["final"]:
        fps.append(done["final"][0].fingerprint)
    return f"{cfg.head.value}-{cfg.task.value}-{split}-{digest(fps)[:8]}"


def write_run(root: Path, cfg: TrainConfig, split: str, split_digest: str, features: str,
              done: dict[str, Any], plots: bool = True, probe: dict[str, Any] | None = None,
              warnings: list[str] | None = None) -> dict[str, Any]:
    """Write the run folder from the units' records; return the metrics dict (with ``table``)."""
    run_dir = Path(root) / "runs" / run_name(cfg, split, done)
    run_dir.mkdir(parents=True, exist_ok=True)
    units = [(f"fold{u.fold}", u, r, t) for u, r, t in done["folds"]]
    if done["final"]:
        units.append(("final", *done["final"]))
    folds = [fold_entry(name, u, r, t, run_dir) for name, u, r, t in units]
    cv = [f for f in folds if f["name"] != "final"]
    metrics = {
        "run": run_dir.name, "run_dir": str(run_dir), "emoprep_version": __version__,
        "split": split, "split_digest": split_digest, "features_fingerprint": features,
        "config": cfg.model_dump(mode="json"), "classes": units[0][2]["classes"],
        "folds": cv, "final": next((f for f in folds if f["name"] == "final"), None),
        "summary": {"val": mean_std([f["val_headline"] for f in cv]),
                    "test": mean_std([f["test_headline"] for f in cv if f["test_headline"]])},
        "trained": [f["unit"] for f in folds if f["trained"]],
        "reused": [f["unit"] for f in folds if not f["trained"]],
        "warnings": list(warnings or []),
    }
    metrics["cv"] = cv_figure(cfg, metrics["summary"]["val"],
                              [r["log"] for _, r, _ in done["folds"]])
    if probe is not None:
        metrics["probe"] = probe_summary(probe)
        metrics["versus"] = versus(cfg, metrics)
    metrics["table"] = table(metrics)
    _write_files(run_dir, cfg, metrics, units, plots)
    return metrics


def cv_figure(cfg: TrainConfig, per_fold: dict[str, Any],
              logs: list[list[dict[str, float]]]) -> dict[str, Any]:
    """The cross-validation figure as ``cfg.cv_summary`` asks: ``per_fold_best`` (the mean +- std
    of each fold's best-epoch scores, ``values`` as ``summary.val``) or ``mean_curve``
    (:func:`emoprep.train.metrics.mean_curve`: best epoch of the folds' mean curve)."""
    if cfg.cv_summary is CVSummary.MEAN_CURVE and (curve := mean_curve(logs)) is not None:
        return curve
    return {"method": CVSummary.PER_FOLD_BEST.value, "values": per_fold}


def probe_summary(probe: dict[str, Any]) -> dict[str, Any]:
    """The probe's per-fold scores with headlines and mean +- std, as for the head."""
    rows = [{**f, "val_headline": headline(f["val"]) if f["val"] else {},
             "test_headline": headline(f["test"]) if f["test"] else {}} for f in probe["folds"]]
    final = probe["final"]
    if final is not None:
        final = {**final, "test_headline": headline(final["test"]) if final["test"] else {}}
    return {"folds": rows, "final": final,
            "summary": {"val": mean_std([r["val_headline"] for r in rows]),
                        "test": mean_std([r["test_headline"] for r in rows if r["test_headline"]])}}


def headline_key(summary: dict[str, Any]) -> str:
    """The one number a run is judged by: combined accuracy when two tasks are scored, else the
    first task's accuracy."""
    keys = list(summary)
    return "combined_accuracy" if "combined_accuracy" in keys else \
        next((k for k in keys if k.endswith("/accuracy")), keys[0] if keys else "")


def versus(cfg: TrainConfig, m: dict[str, Any]) -> dict[str, Any]:
    """``{"metric", "head", "head_std", "probe", "probe_std", "line"}`` on validation."""
    key = headline_key(m["summary"]["val"])
    h, p = m["summary"]["val"].get(key), m["probe"]["summary"]["val"].get(key)
    if h is None or p is None:
        return {"metric": key, "line": ""}
    line = (f"{cfg.head.value} {h['mean']:.4f} +- {h['std']:.4f} vs linear probe "
            f"{p['mean']:.4f} +- {p['std']:.4f} (val {key}, {h['n']} folds)")
    return {"metric": key, "head": h["mean"], "head_std": h["std"], "probe": p["mean"],
            "probe_std": p["std"], "line": line}


def fold_entry(name: str, unit: Any, rec: dict[str, Any], trained: bool,
               run_dir: Path) -> dict[str, Any]:
    return {"name": name, "unit": unit.name, "fingerprint": unit.fingerprint,
            "unit_dir": os.path.relpath(unit.folder(run_dir.parent.parent), run_dir),
            "trained": trained, "best_epoch": rec["best_epoch"], "epochs": rec["epochs"],
            "seconds": rec["seconds"], "val": rec["val"], "test": rec["test"],
            "val_headline": headline(rec["val"]) if rec["val"] else {},
            "test_headline": headline(rec["test"]) if rec["test"] else {}}


def _write_files(run_dir: Path, cfg: TrainConfig, metrics: dict[str, Any],
                 units: list[tuple[str, Any, dict[str, Any], bool]], plots: bool) -> None:
    (run_dir / "config.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=1))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (run_dir / "table.txt").write_text(metrics["table"] + "\n")
    entries = [*metrics["folds"], *([metrics["final"]] if metrics["final"] else [])]
    probes = _probe_by_name(metrics)
    write_csv(run_dir / "folds.csv", [{"fold": f["name"], "best_epoch": f["best_epoch"],
                                  **{f"val/{k}": v for k, v in f["val_headline"].items()},
                                  **{f"test/{k}": v for k, v in f["test_headline"].items()},
                                  **{f"probe/{part}/{k}": v
                                     for part in ("val", "test")
                                     for k, v in probes.get(f["name"], {}).get(
                                         f"{part}_headline", {}).items()}}
                                 for f in entries])
    write_csv(run_dir / "summary.csv", [{"part": part, "metric": k, **v}
                                   for part, s in metrics["summary"].items() for k, v in s.items()])
    for (name, unit, _rec, _), entry in zip(units, entries, strict=True):
        sub = run_dir / name
        sub.mkdir(exist_ok=True)
        src = unit.folder(run_dir.parent.parent)
        _link(src / "best.pt", sub / "best.pt")
        shutil.copyfile(src / "epochs.csv", sub / "epochs.csv")
        for part in ("val", "test"):
            for task, scores in (entry[part] or {}).items():
                if isinstance(scores, dict):
                    probe_scores = (probes.get(name, {}).get(part) or {}).get(task)
                    _confusion(sub / f"confusion_{part}_{task}", scores, plots,
                               f"{cfg.head.value} vs {_probe_title(scores, probe_scores)}")
    if plots:
        from emoprep.train.plots import curves_png

        key = metrics.get("versus", {}).get("metric", "")
        curves_png(run_dir / "curves.png", {name: rec["log"] for name, _, rec, _ in units},
                   {name: p["val_headline"].get(key) for name, p in probes.items()
                    if p.get("val_headline")})


def _probe_by_name(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    probe = metrics.get("probe") or {"folds": [], "final": None}
    return {p["name"]: p for p in [*probe["folds"], *([probe["final"]] if probe["final"] else [])]}


def _probe_title(scores: dict[str, Any], probe: dict[str, Any] | None) -> str:
    text = f"accuracy {scores['accuracy']:.3f}"
    return text + (f", linear probe {probe['accuracy']:.3f}" if probe else "")


def _link(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _confusion(stem: Path, scores: dict[str, Any], plots: bool, title: str = "") -> None:
    names = scores["classes"]
    with open(stem.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["true \\ predicted", *names])
        w.writerows([name, *row] for name, row in zip(names, scores["confusion"], strict=True))
    if plots:
        from emoprep.train.plots import confusion_png

        confusion_png(stem.with_suffix(".png"), scores["confusion"], names, title)


def table(m: dict[str, Any]) -> str:
    """Fixed-width text table: one row per fold, mean +- std, final model on test."""
    keys = list(m["summary"]["val"])
    head = f"run {m['run']}  (split {m['split']}; {len(m['trained'])} trained, " \
           f"{len(m['reused'])} reused)"
    lines = [head, "  ".join([f"{'fold':<10}", f"{'best ep':>7}", *(f"{k:>22}" for k in keys)])]
    for f in m["folds"]:
        vals = (f"{f['val_headline'].get(k, float('nan')):>22.4f}" for k in keys)
        lines.append("  ".join([f"{f['name']:<10}", f"{f['best_epoch']:>7}", *vals]))
    ms = (f"{m['summary']['val'][k]['mean']:.4f} +- {m['summary']['val'][k]['std']:.4f}"
          for k in keys)
    lines.append("  ".join([f"{'val mean':<10}", f"{'':>7}", *(f"{s:>22}" for s in ms)]))
    cv = m.get("cv") or {}
    if cv.get("method") == CVSummary.MEAN_CURVE.value:
        vals = (f"{cv['values'][k]['mean']:.4f} +- {cv['values'][k]['std']:.4f}"
                if k in cv["values"] else "-" for k in keys)
        lines.append("  ".join([f"{'val curve':<10}", f"{cv['best_epoch']:>7}",
                                *(f"{v:>22}" for v in vals)]))
    for label, s in (("test mean", m["summary"]["test"]),):
        if s:
            vals = (f"{s[k]['mean']:.4f} +- {s[k]['std']:.4f}" if k in s else "" for k in keys)
            lines.append("  ".join([f"{label:<10}", f"{'':>7}", *(f"{v:>22}" for v in vals)]))
    if m["final"] and m["final"]["test_headline"]:
        vals = (f"{m['final']['test_headline'].get(k, float('nan')):>22.4f}" for k in keys)
        lines.append("  ".join([f"{'final test':<10}", f"{m['final']['epochs']:>7}", *vals]))
    probe = m.get("probe")
    if probe:
        for label, s in (("probe val", probe["summary"]["val"]),
                         ("probe test", probe["summary"]["test"])):
            if s:
                vals = (f"{s[k]['mean']:.4f} +- {s[k]['std']:.4f}" if k in s else "" for k in keys)
                lines.append("  ".join([f"{label:<10}", f"{'':>7}", *(f"{v:>22}" for v in vals)]))
        if m["versus"]["line"]:
            lines.append(m["versus"]["line"])
    lines += [f"warning: {w}" for w in m.get("warnings", [])]
    return "\n".join(lines)
