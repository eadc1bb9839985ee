"""``emoprep finetune``: a face backbone fine-tuned end to end on single aligned frames of a run's
frame store; writes a checkpoint an embedder loads (logic: :mod:`emoprep.train.finetune`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emoprep.cli.common import EXIT_USAGE, Command, JsonOpt, ManifestOpt, OutOpt, SetOpt, fail
from emoprep.errors import EmoprepError
from emoprep.stages.embed.vggface import VggLayer
from emoprep.train.config import Backbone, Task


def finetune(
    backbone: Annotated[Backbone, typer.Option(help="network to fine-tune (the embedder type "
                                                     "that loads the checkpoint)")],
    weights: Annotated[Path | None, typer.Option(
        help="pretrained state dict (your file, e.g. 20180402-114759-vggface2.pt, "
        "vgg_face_dag.pth, a timm inception_v4 state dict; none for shallow_cnn, trained from "
        "scratch); default: train.finetune.weights, else the weights of the manifest's "
        "embedder of the backbone's type")] = None,
    manifest: ManifestOpt = Path("data_manifest.yaml"),
    out: OutOpt = None,
    fold: Annotated[str, typer.Option(help="fold number (train on its training part, keep the "
                                           "best epoch on its validation part), or 'final' "
                                           "(every non-test video, the last epoch)")] = "0",
    task: Annotated[Task | None, typer.Option(help="label to train on, or multitask (emotion "
                                                   "and authenticity heads; default: train.task)")
                    ] = None,
    split: Annotated[str | None, typer.Option(help="split name (default: the manifest's)")] = None,
    layer: Annotated[VggLayer, typer.Option(help="vggface: the layer the new classifier sits on "
                                                 "(dense1024: a new 1024-unit layer on pool5)")
                     ] = VggLayer.DENSE1024,
    input_size: Annotated[int | None, typer.Option(help="crop side fed to the network (default: "
                                                        "train.finetune.input_size, the "
                                                        "embedder's, 160 IRv1, 224 others)")
                          ] = None,
    frames_per_video: Annotated[int | None, typer.Option(
        help="face frames per video, evenly spaced (0: all; default: "
             "train.finetune.frames_per_video, 16)")] = None,
    flip: Annotated[bool, typer.Option(help="random left-right flip of training crops (--no-flip: "
                                            "train.finetune.augment.flip=0)")] = True,
    augment: Annotated[bool, typer.Option(help="transform training crops as "
                                               "train.finetune.augment says (--no-augment: "
                                               "none)")] = True,
    freeze: Annotated[bool, typer.Option(help="train the classifier only (frozen backbone: "
                                              "the baseline)")] = False,
    set_: SetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Train a backbone with a new classification layer on single aligned frames (each labelled
    by its video's label) of one fold of the split; report frame accuracy and video accuracy (mean
    of the frames' probabilities); write OUT/finetune/BACKBONE/FOLD/ with a checkpoint to use
    as stages.embed.NAME.weights. Optimiser, schedule, epochs, loss: the train: section and
    --set train.optim.KEY=VALUE. Exit codes: 0 trained, 2 usage, settings or weight file."""
    import json

    from emoprep.pipeline.session import resolve_manifest
    from emoprep.train.finetune import FinetuneOptions, finetune_root, source_weights, table
    from emoprep.train.finetune import finetune as run_finetune
    from emoprep.train.frames import load_frames

    if fold != "final" and not fold.isdigit():
        typer.echo(f"error: --fold: expected a fold number or 'final', got {fold!r}", err=True)
        raise typer.Exit(EXIT_USAGE)
    k = None if fold == "final" else int(fold)
    try:
        chosen = [f"train.task={task.value}"] if task is not None else []
        chosen += [] if flip else ["train.finetune.augment.flip=0"]
        m = resolve_manifest(manifest, (*(set_ or ()), *chosen))
        path, size = source_weights(m, backbone, weights, input_size)  # before any data
        root = out or m.output_dir()
        per_video = m.train.finetune.frames_per_video if frames_per_video is None else \
            frames_per_video or None
        fs = load_frames(root, split or m.stages.split.name, m.train.task.value, per_video)
        if k is not None and k >= len(fs.folds.folds):
            typer.echo(f"error: --fold: split {fs.folds.name!r} has {len(fs.folds.folds)} folds "
                       f"(0..{len(fs.folds.folds) - 1}), got {k}", err=True)
            raise typer.Exit(EXIT_USAGE)
        opts = FinetuneOptions(backbone, path, layer, size, k, augment, freeze)
        metrics = run_finetune(fs, opts, m.train, finetune_root(root, backbone, k))
    except EmoprepError as exc:
        fail(exc)
    typer.echo(json.dumps(metrics, indent=1, default=str) if json_ else table(metrics))


def register(app: typer.Typer) -> None:
    """Add ``finetune`` to the main app."""
    app.command(cls=Command)(finetune)
