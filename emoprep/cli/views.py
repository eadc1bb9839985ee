"""Commands that look at an output folder or a manifest and change nothing: ``report``,
``inspect``, ``config show``. None of them runs a stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from emoprep.cli.common import (
    Command,
    Group,
    JsonOpt,
    ManifestOpt,
    OutOpt,
    ProfileOpt,
    SetOpt,
    fail,
    with_profile,
)
from emoprep.errors import EmoprepError

config_app = typer.Typer(cls=Group, no_args_is_help=True,
                         help="Show the settings a manifest resolves to.")


def _output_dir(manifest: Path, out: Path | None, set_: list[str] | None) -> Path:
    """``--out``, or the manifest's output folder (the manifest must then be valid)."""
    if out is not None:
        return out
    from emoprep.pipeline.session import resolve_manifest

    return resolve_manifest(manifest, tuple(set_ or ())).output_dir()


def report(
    manifest: ManifestOpt = Path("data_manifest.yaml"),
    out: OutOpt = None,
    set_: SetOpt = None,
    dest: Annotated[Path | None, typer.Option(
        "--dest", help="report folder (default: OUT/report)")] = None,
    min_face_fraction: Annotated[float | None, typer.Option(
        "--min-face-fraction", help="flag ok videos with a face in fewer kept frames than this "
        "(default: the run's setting)")] = None,
) -> None:
    """Write a self-contained HTML report of a run (summary, problems first, contact sheets,
    status timelines, AU/trim curves, the split) to OUT/report/index.html."""
    from emoprep.report import build_report
    from emoprep.report.trainruns import runs_text, training_runs

    try:
        root = _output_dir(manifest, out, set_)
        index = build_report(root, dest, min_face_fraction=min_face_fraction)
    except EmoprepError as exc:
        fail(exc)
    typer.echo(runs_text(training_runs(root)))
    typer.echo(f"report: {index}")


def inspect(
    video_id: Annotated[str, typer.Argument(
        metavar="VIDEO_ID", help="the video's id (the first column of the run summary)")],
    manifest: ManifestOpt = Path("data_manifest.yaml"),
    out: OutOpt = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """One video: labels, subject, window and trim, frames per status, fingerprints, warnings,
    where its outputs are (shards, or its batch's packs and group)."""
    from emoprep.report import inspect_video, render_inspect, render_inspect_json

    try:
        info = inspect_video(_output_dir(manifest, out, set_), video_id)
    except EmoprepError as exc:
        fail(exc)
    typer.echo(render_inspect_json(info) if json_ else render_inspect(info))


@config_app.command("show", cls=Command)
def config_show(
    manifest: ManifestOpt = Path("data_manifest.yaml"),
    set_: SetOpt = None,
    profile: ProfileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Print the resolved manifest (preset and profile values filled in, every default, --set
    applied). Above it, as comments: the profile's settings, each with where its value comes from
    (the profile, your manifest, --set; a manifest value equal to the default leaves the profile's
    in effect); the other keys are your manifest's or the defaults."""
    import yaml

    from emoprep.pipeline.manifest import apply_overrides
    from emoprep.pipeline.manifest.profiles import describe
    from emoprep.pipeline.session import resolve_manifest

    sets = with_profile(set_, profile)
    try:
        m = resolve_manifest(manifest, tuple(sets))
    except EmoprepError as exc:
        fail(exc)
    data = m.model_dump(mode="json")
    if json_:
        typer.echo(json.dumps(data, indent=1))
        return
    raw, set_keys, _ = apply_overrides(
        yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}, sets)
    typer.echo("\n".join(f"# {line}" for line in describe(raw, set_keys)))
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.command(cls=Command)(report)
    app.command(cls=Command)(inspect)
    app.add_typer(config_app, name="config")
