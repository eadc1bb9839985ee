"""``emoprep train``: cross-validated heads on a run's cached features, and ``train fuse``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emoprep.cli.common import (
    EXIT_USAGE,
    Command,
    Group,
    JsonOpt,
    ManifestOpt,
    OutOpt,
    SetOpt,
    fail,
)
from emoprep.errors import EmoprepError
from emoprep.train.config import FusionMethod, Head, Task

train_app = typer.Typer(cls=Group, help="Train heads on cached features (LSTM, BiLSTM, 1D-CNN, "
                        "linear, MLP) beside a linear probe.")


@train_app.callback(invoke_without_command=True)
def train(
    ctx: typer.Context,
    features: Annotated[str | None, typer.Option(
        "--features", help="embedder name (a stages.embed key) whose features to train on")] = None,
    manifest: ManifestOpt = Path("data_manifest.yaml"),
    out: OutOpt = None,
    head: Annotated[Head | None, typer.Option(help="default: train.head")] = None,
    task: Annotated[Task | None, typer.Option(help="default: train.task")] = None,
    split: Annotated[str | None, typer.Option(help="split name (default: the manifest's)")] = None,
    folds: Annotated[str, typer.Option(help="all, or fold numbers: 0 or 0,2")] = "all",
    set_: SetOpt = None,
    allow_degenerate: Annotated[bool, typer.Option(
        "--allow-degenerate", help="train even when a fold's data cannot give a meaningful score "
        "(one class, a class missing from validation, too few items): warnings, not errors")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Cross-validate one head on the subject folds of a split, beside a linear probe on the same
    folds; cached per fold (a fold whose features, split and settings are unchanged is not trained
    again). Settings: the manifest's ``train:`` section, --set train.KEY=VALUE, --head, --task.
    Exit codes: 0 trained, 2 usage, settings or degenerate data (docs/TRAIN.md)."""
    if ctx.invoked_subcommand is not None:
        return
    if features is None:
        typer.echo("error: --features NAME is required (a stages.embed key)", err=True)
        raise typer.Exit(EXIT_USAGE)
    import json

    from emoprep.pipeline.session import resolve_manifest
    from emoprep.train import fit
    from emoprep.train.cache import features_fingerprint, train_root
    from emoprep.train.inputs import augmentations_used, load_inputs

    try:
        chosen = [f"train.{k}={v.value}" for k, v in (("head", head), ("task", task))
                  if v is not None]
        m = resolve_manifest(manifest, (*(set_ or ()), *chosen))  # --head wins over --set
        root = out or m.output_dir()
        cfg = m.train
        only = None if folds == "all" else [int(k) for k in folds.split(",")]
        augs = augmentations_used([a.value for a in m.stages.augment.names], cfg)
        seqs, fl, counts = load_inputs(root, features, split or m.stages.split.name, cfg, augs)
        metrics = fit(seqs, fl, cfg, train_root(root, features),
                      features_fingerprint(root, features), only_folds=only,
                      allow_degenerate=allow_degenerate, part_counts=counts)
    except ValueError as exc:
        typer.echo(
            f"error: --folds: expected 'all' or fold numbers, got {folds!r} ({exc})", err=True
        )
        raise typer.Exit(EXIT_USAGE) from None
    except EmoprepError as exc:
        fail(exc)
    for line in metrics["warnings"] if json_ else ():  # the table lists them too
        typer.echo(f"warning: {line}", err=True)
    if json_:
        typer.echo(json.dumps(metrics, indent=1, default=str))  # run_dir: where it was saved
    else:
        typer.echo(f"{metrics['table']}\nrun saved: {metrics['run_dir']}")


@train_app.command(cls=Command)
def fuse(
    runs: Annotated[list[Path], typer.Argument(help="run folders of `emoprep train` (2 or more)")],
    method: Annotated[FusionMethod, typer.Option(help="how softmax outputs are combined")] =
    FusionMethod.AVERAGE,
    dest: Annotated[Path | None, typer.Option(help="folder for fusion_<method>.json")] = None,
    json_: JsonOpt = False,
) -> None:
    """Late fusion of trained runs' softmax outputs (average, weighted by mean validation
    accuracy, or max), fold by fold, and on the test part when the runs have final models."""
    import json

    from emoprep.train import fuse as do_fuse

    try:
        metrics = do_fuse(list(runs), method, out_dir=dest)
    except EmoprepError as exc:
        fail(exc)
    typer.echo(json.dumps(metrics, indent=1, default=str) if json_ else fuse_table(metrics, dest))


def fuse_table(m: dict, dest: Path | None) -> str:
    """A short text summary of ``train fuse``: the runs, the fused headline metric per fold and
    its mean +- std (validation, and test where the runs have it), and where the JSON went."""
    from emoprep.train.report import headline_key

    key = headline_key(m["summary"]["val"])
    tested = any(f["test"] for f in m["folds"])  # a test column only where there is a test part
    lines = [f"fused {len(m['runs'])} runs by {m['method']}: {', '.join(m['runs'])}",
             f"{'fold':<10}  {'val ' + key:>26}" + (f"  {'test ' + key:>26}" if tested else "")]
    for f in m["folds"]:
        test = (_score(f["test"], key) if f["test"] else "-") if tested else ""
        lines.append(f"{f['name']:<10}  {_score(f['val'], key):>26}  {test:>26}".rstrip())
    for part in ("val", "test"):
        s = m["summary"][part].get(key)
        if s:
            lines.append(f"{part + ' mean':<10}  {s['mean']:.4f} +- {s['std']:.4f} "
                         f"({s['n']} fold{'' if s['n'] == 1 else 's'})")
    if m["final_test"]:
        lines.append(f"{'final test':<10}  {_score(m['final_test'], key)}")
    lines.append(f"written: {dest / ('fusion_' + m['method'] + '.json')}" if dest is not None
                 else "not written (--dest DIR writes fusion_<method>.json; --json prints it)")
    return "\n".join(lines)


def _score(scores: dict, key: str) -> str:
    from emoprep.train.metrics import headline

    value = headline(scores).get(key)
    return "-" if value is None else f"{value:.4f}"
