"""``emoprep export``: padded sequences of one store to HDF5, or per-frame CSVs of every video."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emoprep.cli.common import Command, ExportFormat
from emoprep.cli.common import fail as _fail
from emoprep.errors import EmoprepError
from emoprep.types import PadRule, Part

if TYPE_CHECKING:
    from emoprep.export.padded import ExportOptions


def export(
    run_dir: Annotated[
        Path,
        typer.Option(
            "--run-dir",
            "-r",
            "--out",
            "-o",
            metavar="RUN_DIR",
            help="INPUT: the output folder of `emoprep run` to read (not the file written: see "
                 "--dest)",
        ),
    ],
    features: Annotated[
        str | None,
        typer.Option(help="h5: embedder name (a stages.embed key), or au (AU intensities)"),
    ] = None,
    dest: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="OUTPUT: h5: a file (.h5/.hdf5), with --fold and no --part "
            "FILE_train.h5, FILE_val.h5, FILE_test.h5; csv: a folder (default RUN_DIR/csv)",
        ),
    ] = None,
    format_: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="h5: padded sequences of one store; csv: one per-frame CSV per video "
            "(OpenFace-like columns)",
        ),
    ] = ExportFormat.H5,
    max_len: Annotated[
        int | None, typer.Option("--max-len", min=1, help="steps L per sequence; longer ones are "
                                 "cut by --pad (default: the longest sequence of the part, nothing "
                                 "cut; the theses used 100)")
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="split name (default: the manifest's stages.split.name)")
    ] = None,
    fold: Annotated[str | None, typer.Option(help="fold number or name of the split")] = None,
    part: Annotated[
        Part | None,
        typer.Option(help="one part (default: train, val and test with --fold, else all)"),
    ] = None,
    augment: Annotated[
        list[str] | None, typer.Option(help="augmented variants to add (train part only)")
    ] = None,
    pad: Annotated[
        PadRule, typer.Option(help="how sequences longer than L are cut")
    ] = PadRule.SUBSAMPLE,
    task: Annotated[
        str | None,
        typer.Option(help="label key of the one-hot `labels` dataset (default: emotion)"),
    ] = None,
    include_anomalies: Annotated[
        bool,
        typer.Option(
            "--include-anomalies", metavar="",
            help="add the videos AU trimming marked for manual review"
        ),
    ] = False,
    drop_no_face: Annotated[
        bool,
        typer.Option(
            "--drop-no-face", metavar="",
            help="leave out frames without a face (default: zero features)"
        ),
    ] = False,
    max_yaw: Annotated[
        float | None,
        typer.Option("--max-yaw", min=0.0, max=180.0, help="h5: face_mask 0 where |yaw| > DEGREES"),
    ] = None,
    max_pitch: Annotated[
        float | None,
        typer.Option(
            "--max-pitch", min=0.0, max=180.0, help="h5: face_mask 0 where |pitch| > DEGREES"
        ),
    ] = None,
    max_roll: Annotated[
        float | None,
        typer.Option(
            "--max-roll", min=0.0, max=180.0, help="h5: face_mask 0 where |roll| > DEGREES"
        ),
    ] = None,
) -> None:
    """Write padded sequences of one store to HDF5 (FILE, or FILE_train/_val/_test), or
    per-frame CSVs of every video (--format csv).

    Each HDF5 file holds features (N, L, D), lengths (N,), mask (N, L: 1 = real step), face_mask
    (N, L: 1 = face found, and within --max-yaw/--max-pitch/--max-roll), labels (N, C one-hot of
    --task), labels_KEY, onehot_KEY, classes_KEY, names, subjects; docs/STORE.md describes
    them. Each CSV (RUN_DIR/csv/VIDEO_ID.csv by default) has one row per stored frame (the frames
    stages.window kept: every frame with window.mode all): frame, face_id, timestamp, confidence,
    success, status, box, x_0..x_67, y_0..y_67, AU scores named by their source (AUxx_geom:
    landmark proxies; AUxx_r: OpenFace's own), pose_yaw/pitch/roll (degrees).
    """
    try:
        if format_ is ExportFormat.CSV:
            h5_only = {"--features": features, "--fold": fold, "--part": part, "--split": split,
                       "--augment": augment, "--max-yaw": max_yaw, "--max-pitch": max_pitch,
                       "--max-roll": max_roll, "--task": task}
            _export_csv(run_dir, dest, [k for k, v in h5_only.items() if v is not None])
            return
        if features is None or dest is None:
            missing = " and ".join(k for k, v in (("--features", features), ("--dest", dest))
                                   if v is None)
            raise typer.BadParameter(f"--format h5 needs {missing} (e.g. --features hog "
                                     f"--dest seq.h5), or use --format csv")
        _check_features(run_dir, features)
        from emoprep.export.padded import ExportOptions

        opts = ExportOptions(max_len, split, fold, part or Part.ALL, tuple(augment or ()), pad,
                             task, include_anomalies, drop_no_face, max_yaw, max_pitch, max_roll)
        _export_h5(run_dir, features, dest, opts, explicit_part=part is not None)
    except EmoprepError as exc:
        _fail(exc)


def _check_features(run_dir: Path, name: str) -> None:
    """``--features``: ``au`` or a feature store of the folder; a usage error (exit 2) naming the
    stores there otherwise."""
    import difflib

    from emoprep.io.layout import Layout
    from emoprep.io.store_config import features_store

    index = Layout(run_dir).index_file(features_store(name))
    if name == "au" or index.is_file() or not run_dir.is_dir():
        return  # a missing folder: the export's own error says so
    have = sorted(p.stem for p in index.parent.glob("*.h5"))
    close = difflib.get_close_matches(name, have, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "add it under stages.embed and run"
    raise typer.BadParameter(f"no feature store {name!r} in {run_dir} (have: "
                             f"{', '.join(have) or 'none'}, and au) (fix: {hint})",
                             param_hint="--features")


def _export_csv(run_dir: Path, dest: Path | None, h5_only: list[str]) -> None:
    """``--format csv``: ``<dest>/<video_id>.csv`` for every video of the frame store."""
    from emoprep.cli.render import plural
    from emoprep.export.frame_csv import export_frame_csvs

    if h5_only:
        raise typer.BadParameter(f"{', '.join(h5_only)}: apply to --format h5 only; --format "
                                 f"csv writes every frame of every video (filter on the pose_* "
                                 f"columns), so leave them out")
    folder = dest if dest is not None else run_dir / "csv"
    done = export_frame_csvs(run_dir, folder)
    rows = (f"one row per frame ({done.rows} rows)" if done.rows == done.source_frames else
            f"one row per frame the window kept: {done.rows} of the videos' {done.source_frames} "
            f"frames (stages.window.mode {', '.join(done.window_modes)}; mode all keeps every "
            f"frame)")
    typer.echo(f"{folder}: {plural(len(done.paths), 'CSV file')} (one per video, {rows})")


def _export_h5(run_dir: Path, features: str, dest: Path, base: ExportOptions,
               explicit_part: bool) -> None:
    """``--format h5``: one file per part (train, val and test with --fold and no --part)."""
    from dataclasses import replace

    from emoprep.cli.render import plural
    from emoprep.export.padded import EmptyPartError
    from emoprep.export.padded import export as do_export

    with_fold = base.fold is not None and not explicit_part
    parts = [Part.TRAIN, Part.VAL, Part.TEST] if with_fold else [base.part]
    for p in parts:
        target = (dest if len(parts) == 1
                  else dest.with_name(f"{dest.stem}_{p.value}{dest.suffix}"))
        opts = replace(base, part=p, fold=None if p in (Part.TEST, Part.ALL) and not explicit_part
                       else base.fold, augmentations=base.augmentations if p is Part.TRAIN else ())
        try:
            info = do_export(run_dir, features, target, opts)
        except EmptyPartError as exc:
            if len(parts) == 1:
                raise
            typer.echo(f"{target}: not written, {exc.problems[0]}")
            continue
        where = f"split {info['split']}, " if info["split"] else ""
        where += f"fold {info['fold']}, " if info["fold"] else ""
        steps = ("" if info["cut"] else " (the longest sequence: nothing cut; --max-len L cuts "
                 "longer ones)")
        n = info["n"]
        assert isinstance(n, int)
        typer.echo(f"{target}: {plural(n, 'sequence')} x {info['max_len']} steps{steps} x "
                   f"{info['dim']} features ({where}part {info['part']}, task "
                   f"{info['task'] or '-'}); {info['held_back']} AU-trim anomalies held back")


def register(app: typer.Typer) -> None:
    """Add ``export`` to the main app."""
    app.command(cls=Command)(export)
