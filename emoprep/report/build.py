"""``build_report``: a static HTML report (one page + PNG files) of a finished run.

Layout of the destination folder (``<out>/report`` by default)::

    index.html          the page; opens from disk, no scripts, no network
    img/<video>_*.png    contact sheet, status timeline, AU/trim curve, first face frame
    img/split_<name>.png subjects and videos per part of each split
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from emoprep.io.reader import open_store
from emoprep.pipeline.quality import video_warnings
from emoprep.report import html as H
from emoprep.report.plots import split_chart
from emoprep.report.rundata import RunData, load_run
from emoprep.report.splitview import chart_key, chart_series, split_parts, subject_overlap
from emoprep.report.trainruns import training_section
from emoprep.report.videoview import Problem, VideoView, make_figures, safe_name, video_section
from emoprep.versions import __version__

#: summary.json keys that describe how the run was configured (shown when a run recorded them)
PROVENANCE_KEYS = ("manifest", "overrides", "versions", "provenance", "resolved_manifest")


def _anomalies(run: RunData) -> set[str]:
    """Videos whose AU trim was marked anomalous while trimming applied (window mode au_trim),
    as the run summary counts them."""
    found = {str(v) for v in run.summary.get("anomalies", []) if isinstance(v, str)}
    for vid, recs in run.records.items():
        au_trim = (recs.get("frames", {}).get("components", {}).get("config", {})
                   .get("window_mode") == "au_trim")
        if au_trim and (recs.get("au", {}).get("summary") or {}).get("anomaly"):
            found.add(vid)
    return found


def rank_videos(run: RunData, min_face_fraction: float) -> list[VideoView]:
    """Every video of the table, problems first: failed, anomalous, warned, then ok; by id."""
    warned = video_warnings(run.table, min_face_fraction)
    anomalies = _anomalies(run)
    views = []
    for row in run.table:
        vid = row["video_id"]
        if row["status"] != "ok":
            problem = Problem.FAILED
        elif vid in anomalies:
            problem = Problem.ANOMALY
        elif vid in warned:
            problem = Problem.WARNING
        else:
            problem = Problem.OK
        views.append(VideoView(row, problem, run.failed_stage(vid), warned.get(vid, [])))
    return sorted(views, key=lambda v: (v.problem, v.video_id))


def _summary_section(run: RunData, views: list[VideoView], status_total: Counter[str]) -> str:
    s = run.summary
    n = Counter(v.row["status"] for v in views)
    pairs: list[tuple[str, Any]] = [
        ("output folder", str(run.root)),
        ("emoprep version", s.get("provenance", {}).get("emoprep_version")
         or s.get("emoprep_version") or "not recorded by the run (report "
                                                       f"built with {__version__})"),
        ("executor", s.get("executor", "")),
        ("run time, s", s.get("seconds", "")),
        ("videos", f"{n.get('ok', 0)} ok, {n.get('failed', 0)} failed, "
                   f"{n.get('pending', 0)} pending, {len(views)} in the manifest"),
        ("anomalies", sum(v.problem is Problem.ANOMALY for v in views)),
        ("warnings", sum(len(v.warnings) for v in views)),
        ("frames kept / with a face", f"{sum(v.row['n_frames'] for v in views)} / "
                                      f"{sum(v.row['n_face'] for v in views)}"),
        ("unmatched files", len(s.get("unmatched", []))),
    ]
    parts = ["<h2>Run summary</h2>", H.kv_table(pairs)]
    for key in PROVENANCE_KEYS:
        if key in s:
            parts.append(H.details(f"{key} (recorded by the run)", H.pre_json(s[key])))
    parts.append("<h3>Frames per status (kept frames, every ok video)</h3>")
    parts.append(H.table(list(status_total), [[H.cell(v) for v in status_total.values()]]))
    parts.append(_stages_table(run))
    return "".join(parts)


def _stages_table(run: RunData) -> str:
    secs, settings = run.stage_seconds(), run.stage_settings()
    rows = []
    for stage, t in secs.items():
        st = settings.get(stage, {})
        libs = ", ".join(f"{k} {v}" for k, v in sorted((st.get("libraries") or {}).items()))
        models = ", ".join(f"{k} {str(v)[:12]}"
                           for k, v in sorted((st.get("models") or {}).items()))
        rows.append([H.cell(stage), H.cell(t["units"]), H.cell(t["seconds"]), H.cell(t["max"]),
                     H.cell(st.get("version", "")), H.cell(st.get("variants", "")),
                     H.cell(libs or "-"), H.cell(models or "-"),
                     H.raw_cell(H.details("settings", H.pre_json(st.get("config"))))])
    head = ["stage", "units", "wall time, s", "slowest unit, s", "code version",
            "distinct fingerprint inputs", "libraries", "models (sha256)", "settings"]
    return "<h3>Stages (from the unit records)</h3>" + H.table(head, rows)


def _problems_section(views: list[VideoView]) -> str:
    rows = []
    for v in views:
        if v.problem is Problem.FAILED:
            why = v.row["error"] or f"{v.failed_stage or 'unknown stage'} failed"
        elif v.problem is Problem.ANOMALY:
            why = "AU trim: peak near the end, left untrimmed for manual review"
        elif v.warnings:
            why = "; ".join(w.message for w in v.warnings)
        else:
            continue
        rows.append([H.raw_cell(H.link(v.video_id)), H.cell(v.problem.tag), H.cell(why)])
    body = H.table(["video", "problem", "reason"], rows) if rows else "<p>No problems found.</p>"
    return "<h2>Problems</h2>" + body


def _split_section(run: RunData, img_dir: Path) -> str:
    parts = ["<h2>Splits</h2>"]
    if not run.splits:
        return parts[0] + "<p>No split in this output folder.</p>"
    for name, split in run.splits.items():
        stats = split_parts(split, run.table)
        key = chart_key(split, stats)
        series = chart_series(stats, key)
        keys = sorted({k for p in stats for k in p.labels})
        rows = [[H.cell(p.name), H.cell(len(p.subjects)), H.cell(len(p.videos)),
                 H.cell(len(p.failed)),
                 *[H.cell(", ".join(f"{v} {c}" for v, c in p.labels.get(k, {}).items()) or "-")
                   for k in keys],
                 H.cell(", ".join(p.subjects))] for p in stats]
        chart = f"split_{safe_name(name)}.png"
        split_chart([p.name for p in stats], series, [len(p.subjects) for p in stats],
                    img_dir / chart, f"split {name}: videos per part"
                    + (f" by {key}" if key else "") + ", subjects per part")
        overlap = subject_overlap(stats)
        parts += [f"<h3>{H.esc(name)}</h3>",
                  H.table(["part", "subjects", "videos", "failed videos", *keys, "subject ids"],
                          rows),
                  f'<p class="{"error" if overlap else "muted"}">subjects in more than one part: '
                  f"{H.esc(', '.join(overlap) or 'none')}</p>",
                  f'<div class="figs">{H.img("img/" + chart, f"split {name} chart")}</div>']
    return "".join(parts)


def _clear_old_images(img_dir: Path, keep: set[str]) -> None:
    for p in img_dir.glob("*.png"):
        if p.name not in keep:
            p.unlink(missing_ok=True)


def build_report(out_dir: str | Path, dest: str | Path | None = None,
                 min_face_fraction: float | None = None,
                 sheet_size: int = 16) -> Path:
    """Write the HTML report of the run in ``out_dir`` to ``dest`` (default ``<out>/report``).

    ``min_face_fraction``: the bar of the low-face warning; None takes the value the run recorded
    in summary.json (key ``min_face_fraction``), else 0.5. Returns the path of ``index.html``.
    Reads only stored outputs; raises :class:`~emoprep.errors.StoreError` when ``out_dir`` holds
    no run.
    """
    run = load_run(out_dir)
    dest = Path(dest) if dest is not None else run.root / "report"
    img_dir = dest / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    views = rank_videos(run, run.min_face_fraction(min_face_fraction))
    status_total: Counter[str] = Counter()
    with open_store(out_dir) as store:
        for v in views:
            if v.row["status"] == "ok":
                make_figures(v, store, img_dir, sheet_size)
                status_total.update(v.status_counts)
    body = [f"<h1>emoprep report</h1><p class=\"muted\">{H.esc(run.root)}</p>",
            _summary_section(run, views, status_total), _problems_section(views),
            _split_section(run, img_dir), training_section(run.root, dest),
            "<h2>Videos (problems first)</h2>", *(video_section(v, run) for v in views)]
    _clear_old_images(img_dir, {Path(s).name for v in views for s in v.images.values()}
                      | {f"split_{safe_name(n)}.png" for n in run.splits})
    index = dest / "index.html"
    tmp = index.with_name(f".index.html.{os.getpid()}.part")
    tmp.write_text(H.page(f"emoprep report: {run.root.name}", "\n".join(body)), encoding="utf-8")
    os.replace(tmp, index)
    return index
