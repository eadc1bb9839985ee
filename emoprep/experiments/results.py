"""The experiment's result table: each number of the source document beside emoprep's, as text,
markdown and JSON.

emoprep's number for a trial is taken from the part the document reports where emoprep has it:
the final model's test score, else the mean over the folds' test scores, else the validation
figure: the best epoch of the folds' mean curve where the run's ``train.cv_summary`` is
``mean_curve`` (003 §3.2.3), the mean over the folds' best-epoch scores otherwise (the column
``measured on`` says which). Values are percent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoprep.experiments.sources import MCA, ExperimentSpec, Reported


def mean_class_accuracy(scores: dict[str, Any]) -> float:
    """Mean over the classes present of each class's recall, from a task's ``confusion`` (K, K)
    (rows: true class): 004 §3.5's mean class accuracy."""
    cm = np.asarray(scores["confusion"], np.float64)
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present])) if present.any() else \
        float("nan")


def metric_value(scores: dict[str, Any] | None, metric: str) -> float | None:
    """``metric`` ("emotion/accuracy", "combined_accuracy", "emotion/mean_class_accuracy") of one
    :func:`emoprep.train.metrics.evaluate` result; None when it is not scored."""
    if not scores:
        return None
    if metric == "combined_accuracy":
        value = scores.get(metric)
        return None if value is None else float(value)
    task, _, name = metric.partition("/")
    if task not in scores:
        return None
    if name == MCA and MCA in scores[task]:  # a fine-tuning step's, per crop
        return float(scores[task][MCA])
    return mean_class_accuracy(scores[task]) if name == MCA else float(scores[task][name])


def _mean(rows: list[dict[str, Any] | None], metric: str) -> tuple[float, float, int] | None:
    values = [v for r in rows if (v := metric_value(r, metric)) is not None]
    return (float(np.mean(values)), float(np.std(values)), len(values)) if values else None


def scored(result: dict[str, Any], metric: str) -> tuple[float, str] | None:
    """(value in percent, what it was measured on) of a trial's or fusion's scores: ``result``
    holds ``final_test`` (scores or None) and ``folds`` (``{"val", "test"}`` scores each); a
    fine-tuning step's also ``describe`` (part -> what its scores are)."""
    describe = result.get("describe") or {}
    if (final := metric_value(result.get("final_test"), metric)) is not None:
        return 100 * final, describe.get("test", "test part, final model")
    if describe and (got := _mean([f.get("val") for f in result["folds"]], metric)):
        return 100 * got[0], describe["val"]
    cv = result.get("cv") or {}
    curve = (cv.get("values") or {}).get(metric) if cv.get("method") == "mean_curve" else None
    for part in ("test", "val"):
        if part == "val" and curve is not None:  # 003 §3.2.3: the folds' mean curve
            return 100 * curve["mean"], (f"validation, epoch {cv['best_epoch']} of the mean "
                                         f"curve of {curve['n']} folds "
                                         f"(std {100 * curve['std']:.1f})")
        got = _mean([f.get(part) for f in result["folds"]], metric)
        if got is not None:
            mean, std, n = got
            name = "test part" if part == "test" else "validation"
            return 100 * mean, f"{name}, mean of {n} folds (std {100 * std:.1f})"
    return None


def row(rep: Reported, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One table row: the document's number and emoprep's (None where nothing stands for it)."""
    out = {"result": rep.what, "document": rep.value, "source": rep.source, "emoprep": None,
           "measured_on": rep.why or "", "run": rep.ours, "metric": rep.metric}
    if rep.ours and results:  # no results: a plan, nothing run yet
        got = results.get(rep.ours)
        hit = scored(got, rep.metric) if got and "skipped" not in got else None
        if got and "skipped" in got:
            out["measured_on"] = got["skipped"]
        elif hit is None:
            out["measured_on"] = f"{rep.ours}: no {rep.metric} score"
        else:
            out["emoprep"], out["measured_on"] = round(hit[0], 2), hit[1]
    return out


def table_rows(spec: ExperimentSpec, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [row(rep, results) for rep in spec.reported]


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(title: str, rows: list[dict[str, Any]], differences: list[str]) -> str:
    """The table and the differences of protocol as a markdown page."""
    lines = [f"# {title}", "", "| result | document (%) | source | emoprep (%) | emoprep run | "
             "measured on |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['result']} | {r['document']} | {r['source']} | {_cell(r['emoprep'])} | "
              f"{r['run'] or '-'} | {r['measured_on']} |" for r in rows]
    lines += ["", "## Differences of protocol", "", *[f"- {d}" for d in differences], ""]
    return "\n".join(lines)


def text(title: str, rows: list[dict[str, Any]], differences: list[str]) -> str:
    """The table as printed by ``emoprep experiment``: one line per number of the document."""
    width = max([len(r["result"]) for r in rows] + [6])
    lines = [title, f"{'result':<{width}}  {'document':>8}  {'emoprep':>8}  source; emoprep run: "
             "measured on"]
    for r in rows:
        lines.append(f"{r['result']:<{width}}  {r['document']:>8}  {_cell(r['emoprep']):>8}  "
                     f"{r['source']}; {r['run'] or 'no emoprep run'}: {r['measured_on'] or '-'}")
    lines += ["", "differences of protocol:", *[f"- {d}" for d in differences]]
    return "\n".join(lines)
