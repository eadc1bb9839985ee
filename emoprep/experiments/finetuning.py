"""The fine-tuning steps of an experiment (:class:`~emoprep.experiments.sources.FinetuneStep`):
``emoprep finetune`` on a preprocessed output folder with the manifest's ``train:`` (profile
applied), and its scores in the form the result table reads.

The pretrained file comes from :func:`emoprep.train.finetune.source_weights`
(``train.finetune.weights`` or the manifest's embedder of the backbone's type); a missing file is
a ModelFileError naming it. BU-4DFE's path (003 §3.2.4): VGGFace fine-tuned on the user's
expression image set (its own manifest, preprocessed into ``OUT/expression-set``), whose
checkpoint then replaces the weights of the ``vggface`` features before the main run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoprep.experiments.sources import MCA, FinetuneStep, SvmStep
from emoprep.pipeline.manifest.schema import Manifest
from emoprep.pipeline.manifest.train_section import FrameAugment, TrainConfig
from emoprep.train.config import Backbone

#: what a step's result holds (see emoprep.experiments.results.scored)
Result = dict[str, Any]


def step_config(m: Manifest, step: FinetuneStep) -> TrainConfig:
    """The manifest's ``train:`` with the step's task (learning rate, and no augmentation, when
    it says so)."""
    data = m.train.model_dump(mode="json")
    data["task"] = step.task.value
    if step.lr is not None:
        data["optim"]["lr"] = step.lr
    if not step.augment:
        data["finetune"]["augment"] = FrameAugment(flip=0.0).model_dump(mode="json")
    return TrainConfig.model_validate(data)


def frame_scores(part: dict[str, Any] | None, task: str) -> dict[str, Any] | None:
    """A part of finetune's metrics as :func:`~emoprep.experiments.results.metric_value` reads
    it: ``{task: {"accuracy", MCA}}`` per crop, and ``combined_accuracy`` (per frame) for
    multitask."""
    if not part:
        return None
    if "combined_frame_accuracy" in part:
        out: dict[str, Any] = {t: {"accuracy": v["frame_accuracy"]} for t, v in part.items()
                               if isinstance(v, dict)}
        out["combined_accuracy"] = part["combined_frame_accuracy"]
        return out
    return {task: {"accuracy": part["frame_accuracy"], MCA: part["frame_mean_class_accuracy"]}}


def as_result(metrics: dict[str, Any], step: FinetuneStep) -> Result:
    """The step's metrics as a table result: the final model's test part, or fold 0's
    validation part, both scored per frame (``describe`` says so in the table)."""
    parts, task = metrics["parts"], metrics["task"]
    how = "trained from scratch" if step.backbone is Backbone.SHALLOW_CNN else "fine-tuned"
    what = (f"per frame, {metrics['backbone']} {how} ({metrics['train']['frames']} "
            f"training frames, best epoch {metrics['best_epoch']})")
    fold = {"val": frame_scores(parts.get("val"), task),
            "test": frame_scores(parts.get("test"), task)}
    return {"final_test": fold["test"] if step.fold is None else None,
            "folds": [] if step.fold is None else [fold], "run_dir": str(Path(
                metrics["checkpoint"]).parent), "checkpoint": metrics["checkpoint"],
            "cached": bool(metrics.get("cached")),
            "describe": {"test": f"test part, final model, {what}",
                         "val": f"validation part of fold {step.fold}, {what}"}}


def run_step(m: Manifest, out: Path, step: FinetuneStep, split: str | None = None) -> Result:
    """Fine-tune ``step.backbone`` on the frames of ``out`` (split ``split``, default the
    manifest's) as the step says; the metrics are in ``OUT/finetune/<backbone>/<fold>/``, beside
    the checkpoint (a step with a tag: ``.../<fold>-<tag>/``; without augmentation:
    ``...-plain/``). A run there with the same
    key (the same crops, labels, weights and settings) is reused, not trained again."""
    from emoprep.train.finetune import FinetuneOptions, finetune, finetune_root, source_weights
    from emoprep.train.frames import load_frames

    cfg = step_config(m, step)
    weights, size = source_weights(m, step.backbone)
    fs = load_frames(out, split or m.stages.split.name, cfg.task.value,
                     cfg.finetune.frames_per_video)
    dest = finetune_root(out, step.backbone, step.fold)
    dest = dest.with_name(dest.name + (f"-{step.tag}" if step.tag else "") +
                          ("" if step.augment else "-plain"))
    metrics = finetune(fs, FinetuneOptions(step.backbone, weights, input_size=size,
                                           fold=step.fold, dropout=step.dropout), cfg, dest,
                       reuse=True)
    return as_result(metrics, step)


def run_svm(m: Manifest, out: Path, step: SvmStep) -> Result:
    """002's SVM baseline (:func:`emoprep.train.svm_baseline.fit_svm`) on the crops of ``out``
    (one per image; the manifest's ``train.finetune.frames_per_video`` per video), fitted on
    ``step.fold``'s training part; written to ``OUT/svm/<task>/<fold_k | final>/``."""
    from emoprep.train.frames import load_frames
    from emoprep.train.svm_baseline import fit_svm

    fs = load_frames(out, m.stages.split.name, step.task.value, m.train.finetune.frames_per_video)
    fold = "final" if step.fold is None else f"fold_{step.fold}"
    dest = Path(out) / "svm" / step.task.value / fold
    metrics = fit_svm(fs, step.fold, dest)
    what = (f"per image, SVM ({metrics['settings']['kernel']} kernel, C "
            f"{metrics['settings']['C']:g}, gamma {metrics['settings']['gamma']:g}) on pixels, "
            f"{metrics['train']['frames']} training images")
    parts = metrics["parts"]
    scores = {p: frame_scores(parts.get(p), step.task.value) for p in ("val", "test")}
    return {"final_test": scores["test"] if step.fold is None else None,
            "folds": [] if step.fold is None else [scores], "run_dir": str(dest),
            "describe": {"test": f"test part, {what}",
                         "val": f"validation part of fold {step.fold}, {what}"}}


def check_weights(m: Manifest, steps: list[FinetuneStep]) -> None:
    """A ModelFileError naming the first step's weight file that is not given or not there,
    before anything runs (nothing is lost to a late failure); optional steps are not checked."""
    from emoprep.train.finetune import source_weights

    for step in steps:
        if not step.optional:
            source_weights(m, step.backbone)


def missing_weights(m: Manifest, step: FinetuneStep) -> str | None:
    """Why an optional step cannot run (its weight file not given or not there), else None."""
    from emoprep.errors import ModelFileError
    from emoprep.train.finetune import source_weights

    try:
        source_weights(m, step.backbone)
    except ModelFileError as exc:
        return f"skipped: {step.name}: {exc}"
    return None


def expression_set_step(expression_set: str | Path | None, root: Path, m: Manifest,
                        step: FinetuneStep, features: str,
                        workers: int) -> tuple[Result | None, tuple[str, ...], list[str]]:
    """003's first step: preprocess the expression image set (its own manifest, into
    ``root/expression-set``) and fine-tune ``step.backbone`` on every non-test image with the
    main manifest's ``train:``. Returns the step's result (None when skipped), the ``--set``
    that points the ``features`` embedder at the checkpoint (when it is of the backbone's type),
    and notes (what was skipped and why)."""
    from emoprep.pipeline.runner import run
    from emoprep.pipeline.scheduler import RunOptions
    from emoprep.pipeline.session import resolve_manifest

    what = (f"003 §3.2.4's first step (fine-tune {step.backbone.value} on an expression image "
            "set such as FER2013, then extract the features with it)")
    if expression_set is None:
        return None, (), [f"skipped: {what}: no expression image set given (fix: --expression-"
                          "set MANIFEST, a manifest of its images with emotion labels); the "
                          "features use the embedder's weights as given"]
    where = root / "expression-set"
    run(expression_set, where, (), RunOptions(workers=workers))
    em = resolve_manifest(expression_set, ())
    res = run_step(m, where, step, em.stages.split.name)  # the experiment's train settings
    kind = m.stages.embed[features].type if features in m.stages.embed else None
    if str(getattr(kind, "value", kind)) != step.backbone.value:
        return res, (), [f"the {step.backbone.value} fine-tuned on the expression set "
                         f"({res['checkpoint']}) is not used: features {features!r} are "
                         f"{getattr(kind, 'value', kind)}"]
    return res, (f"stages.embed.{features}.weights={res['checkpoint']}",), []
