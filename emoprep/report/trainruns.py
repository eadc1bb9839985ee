"""The training runs of an output folder, with their headline numbers (head vs linear probe).

Reads ``<out>/train/<features>/runs/*/metrics.json`` (written by :mod:`emoprep.train.report`);
nothing is trained or re-scored. :func:`training_runs` gives one row per run, newest first within
each feature store; :func:`runs_text` the terminal listing of ``emoprep report``;
:func:`training_section` the report page's section (with each run's curves figure).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from emoprep.report import html as H


def _mean_std(summary: dict[str, Any], key: str) -> str:
    s = summary.get(key)
    return f"{s['mean']:.3f} +- {s['std']:.3f}" if s else "-"


def run_row(path: Path) -> dict[str, Any] | None:
    """One run folder's headline (None when its metrics.json is unreadable)."""
    try:
        m = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    versus = m.get("versus") or {}
    key = versus.get("metric") or next(iter(m["summary"]["val"]), "")
    probe = (m.get("probe") or {}).get("summary", {})
    final = (m.get("final") or {}).get("test_headline") or {}
    return {"features": path.parent.parent.name, "run": m["run"], "run_dir": str(path),
            "head": m["config"]["head"], "task": m["config"]["task"], "split": m["split"],
            "folds": len(m["folds"]), "metric": key,
            "val": _mean_std(m["summary"]["val"], key),
            "probe_val": _mean_std(probe.get("val", {}), key),
            "test": _mean_std(m["summary"]["test"], key),
            "probe_test": _mean_std(probe.get("test", {}), key),
            "final_test": f"{final[key]:.3f}" if key in final else "-",
            "warnings": len(m.get("warnings", [])),
            "mtime": (path / "metrics.json").stat().st_mtime}


def training_runs(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every run under ``<out>/train``: by feature store, newest first."""
    rows = [r for p in sorted(Path(out_dir).glob("train/*/runs/*")) if p.is_dir()
            if (r := run_row(p)) is not None]
    return sorted(rows, key=lambda r: (r["features"], -r["mtime"], r["run"]))


def runs_text(rows: list[dict[str, Any]]) -> str:
    """``training runs:`` then one line per run ("hog lstm/emotion: 0.930 +- .. vs probe ..")."""
    if not rows:
        return "training runs: none (emoprep train --features NAME)"
    lines = [f"training runs ({len(rows)}):"]
    for r in rows:
        warn = f"; {r['warnings']} data warnings" if r["warnings"] else ""
        lines.append(f"  {r['features']} {r['head']}/{r['task']} split {r['split']}, "
                     f"{r['folds']} folds: val {r['metric']} {r['val']} vs linear probe "
                     f"{r['probe_val']}{warn}  ({r['run']})")
    return "\n".join(lines)


def training_section(out_dir: str | Path, dest: Path) -> str:
    """The report's "Training runs" section: a table, and each run's curves (probe dotted)."""
    rows = training_runs(out_dir)
    if not rows:
        return "<h2>Training runs</h2><p>No training run in this output folder.</p>"
    head = ["features", "head", "task", "split", "folds", "metric", "val (head)",
            "val (linear probe)", "test (head)", "test (linear probe)", "final test",
            "data warnings", "run"]
    cells = [[H.cell(r[k]) for k in ("features", "head", "task", "split", "folds", "metric", "val",
                                     "probe_val", "test", "probe_test", "final_test",
                                     "warnings", "run")] for r in rows]
    figs = [H.img(os.path.relpath(Path(r["run_dir"]) / "curves.png", dest), f"{r['run']} curves")
            for r in rows if (Path(r["run_dir"]) / "curves.png").is_file()]
    return ("<h2>Training runs</h2>" + H.table(head, cells)
            + H.details("learning curves (dotted: the linear probe)",
                        f'<div class="figs">{"".join(figs)}</div>'))
