"""``emoprep experiment PROFILE``: rerun a source experiment (emoprep/experiments)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from emoprep.cli.common import Command, JsonOpt, ManifestOpt, OutOpt, SetOpt, check_sets, fail
from emoprep.errors import EmoprepError


def experiment(
    profile: Annotated[str, typer.Argument(
        metavar="PROFILE", help="thesis-bu4dfe, thesis-sase-fe, thesis-affectnet or thesis-nvie")],
    manifest: ManifestOpt = Path("data_manifest.yaml"),
    out: OutOpt = None,
    set_: SetOpt = None,
    features: Annotated[str | None, typer.Option(
        "--features", help="embedder (a stages.embed key) to train on; default: the only one")
    ] = None,
    workers: Annotated[int, typer.Option(
        "--workers", "-j", help="preprocessing worker processes (0: in this process)")] = 2,
    allow_degenerate: Annotated[bool, typer.Option(
        "--allow-degenerate", metavar="", help="train even when a fold's data cannot give a "
        "meaningful score (as `emoprep train`)")] = False,
    expression_set: Annotated[Path | None, typer.Option(
        "--expression-set", help="thesis-bu4dfe: a manifest of an expression image set (003: "
        "FER2013) to fine-tune VGGFace on before the features are extracted; without it that "
        "step is skipped and the table says so")] = None,
    plan: Annotated[bool, typer.Option(
        "--plan", metavar="", help="print the document's numbers and the differences of "
        "protocol; run nothing (no manifest needed)")] = False,
    json_: JsonOpt = False,
) -> None:
    """Rerun a source experiment: preprocessing with the profile, the fine-tuning steps and each
    training the document reports, its late fusions; print the results beside the document's
    numbers and every remaining difference of protocol; write OUT/experiment-PROFILE.json and
    .md (docs/EXPERIMENTS.md). Exit codes: 0 done, 2 usage, settings, weight file or degenerate
    data."""
    from emoprep.experiments import plan as plan_of
    from emoprep.experiments import run_experiment

    check_sets(set_)
    try:
        res = plan_of(profile) if plan else run_experiment(
            profile, manifest, out, tuple(set_ or ()), features, workers, allow_degenerate,
            expression_set)
    except EmoprepError as exc:
        fail(exc)
    if json_:
        typer.echo(json.dumps({k: v for k, v in res.items() if k != "text"}, indent=1))
        return
    typer.echo(res["text"])
    for path in res["files"]:
        typer.echo(f"written: {path}")


def register(app: typer.Typer) -> None:
    app.command(cls=Command)(experiment)
