"""What each source experiment reports, and which emoprep training stands for each figure.

One :class:`ExperimentSpec` per thesis profile (:data:`EXPERIMENTS`): the trainings to run
(:class:`Trial`: head, task, metric), the late fusions the document reports, the document's own
numbers (:class:`Reported`, in percent, each with its table) and the differences of protocol that
the profile's notes do not already list. Numbers are the documents' (../shared/seeds, see
docs/METHODS.md): 000 Table 4.6, 002 Tables 5.1 and 5.4, 003 Tables 3.6 and 3.7, 004 Table 3.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from emoprep.pipeline.manifest.profile_specs import Profile
from emoprep.pipeline.manifest.train_section import FusionMethod, Head, Task
from emoprep.train.config import Backbone

#: metric names of :func:`emoprep.experiments.results.metric_value`
MCA = "mean_class_accuracy"  #: mean over classes of each class's recall (004 §3.5)


@dataclass(frozen=True)
class Trial:
    """One ``emoprep train`` run of the experiment. ``head`` None: the manifest's ``train.head``
    (the profile's when it sets one)."""

    name: str
    task: Task
    head: Head | None = None


@dataclass(frozen=True)
class FinetuneStep:
    """An ``emoprep finetune`` run of the experiment (the document's protocol fine-tunes a
    backbone end to end on single frames or images): ``fold`` 0 trains on fold 0's training part
    and is scored on its validation part, None trains a final model on every non-test item and is
    scored on the test part; ``augment`` False turns ``train.finetune.augment`` off. Scores are
    per frame (per image), :func:`emoprep.experiments.finetuning.as_result`."""

    name: str
    backbone: Backbone
    task: Task
    fold: int | None = 0
    augment: bool = True
    tag: str = ""  #: added to the run folder's name (``fold_0-<tag>``): two steps, one backbone
    lr: float | None = None  #: the document's learning rate for this model (None: train.optim's)
    dropout: float | None = None  #: before the classifier (inception_v4; None: the backbone's)
    #: skipped with the reason in its row when the weight file is not given or not there
    optional: bool = False


@dataclass(frozen=True)
class SvmStep:
    """002's SVM baseline (§4.4.4) on the crops' pixels (:mod:`emoprep.train.svm_baseline`),
    fitted and scored on the same parts as a fine-tuning step of the same ``fold``."""

    name: str
    task: Task
    fold: int | None = 0


@dataclass(frozen=True)
class Fusion:
    """A late fusion of trials' outputs (``emoprep train fuse``)."""

    trials: tuple[str, ...]
    method: FusionMethod

    @property
    def name(self) -> str:
        return f"{'+'.join(self.trials)} ({self.method.value})"


@dataclass(frozen=True)
class Variant:
    """A second preprocessing the document compares with (its ablation): the run again with
    ``sets`` into ``OUT/variants/<name>``, the experiment's trials and fine-tuning steps named in
    ``only`` (empty: all of them) on it, named ``<name>/<trial>``."""

    name: str
    sets: tuple[str, ...]
    only: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reported:
    """One number of the document: ``what`` (its row), ``value`` (percent), ``source`` (table).
    ``ours``: the trial name, ``<trial>:probe`` (the trial's linear probe), a fusion's name, or
    "" when no emoprep run stands for it (``why`` says so); ``metric``: which of emoprep's scores
    it is compared with ("emotion/accuracy", "combined_accuracy", ``<task>/`` + :data:`MCA`)."""

    what: str
    value: float
    source: str
    ours: str = ""
    metric: str = "emotion/accuracy"
    why: str = ""


@dataclass(frozen=True)
class ExperimentSpec:
    summary: str
    trials: tuple[Trial, ...]
    reported: tuple[Reported, ...]
    fusions: tuple[Fusion, ...] = ()
    differences: tuple[str, ...] = ()  #: beyond the profile's notes
    embedder: str = ""  #: the document's feature extractor as an emoprep embedder type
    variants: tuple[Variant, ...] = ()
    finetunes: tuple[FinetuneStep, ...] = ()
    #: 003's path: VGGFace fine-tuned on an expression image set before feature extraction
    pre_finetune: FinetuneStep | None = None
    svms: tuple[SvmStep, ...] = ()


_AUTH, _JOINT = "authenticity/accuracy", "joint/accuracy"
_AVG, _WEIGHTED, _MAX = FusionMethod.AVERAGE, FusionMethod.WEIGHTED, FusionMethod.MAX
_ALL3 = ("lstm", "bilstm", "cnn1d")


def _bu4dfe_fusions() -> tuple[tuple[Fusion, ...], tuple[Reported, ...]]:
    values = {("lstm", "bilstm"): (63.33, 63.33, 62.5), _ALL3: (63.33, 63.33, 62.5)}
    fusions, rows = [], []
    for trials, numbers in values.items():
        for method, value in zip((_AVG, _WEIGHTED, _MAX), numbers, strict=True):
            f = Fusion(trials, method)
            fusions.append(f)
            rows.append(Reported(f"fusion {' + '.join(trials)}, {method.value}, test accuracy",
                                 value, "003 Table 3.7", f.name))
    return tuple(fusions), tuple(rows)


_BU_FUSIONS, _BU_FUSED = _bu4dfe_fusions()

EXPERIMENTS: dict[Profile, ExperimentSpec] = {
    Profile.THESIS_BU4DFE: ExperimentSpec(
        "003: VGGFace pool5 sequences, LSTM / BiLSTM / 1D-CNN on the Fig. 3.6 split, test part "
        "scored by the final models, late fusion",
        (Trial("lstm", Task.EMOTION, Head.LSTM), Trial("bilstm", Task.EMOTION, Head.BILSTM),
         Trial("cnn1d", Task.EMOTION, Head.CNN1D)),
        (Reported("VGGFace + LSTM, test accuracy", 62.5, "003 Table 3.6", "lstm"),
         Reported("VGGFace + BiLSTM, test accuracy", 62.5, "003 Table 3.6", "bilstm"),
         Reported("VGGFace + 1D-CNN, test accuracy", 65.0, "003 Table 3.6", "cnn1d"),
         Reported("human ground truth, test part", 67.8, "003 Table 3.6",
                  why="people re-labelled the test part (003 §3.3.2); nothing to run"),
         *_BU_FUSED,
         Reported("VGGFace fine-tuned on FER2013, test accuracy", 69.0, "003 Table 3.4",
                  "vggface-expression-set")),
        _BU_FUSIONS,
        ("003 fine-tuned VGGFace on FER2013 in phases (§3.2.4: the classifier on the frozen "
         "base, then the last two convolution blocks, SGD with settings from a hyperparameter "
         "search it does not print, then a refinement); the step keeps the phases "
         "(train.finetune.head_epochs, trainable_blocks) and 003's online augmentation, with "
         "the profile's train.optim, on every non-test image of the set, scored on its test "
         "part per image",
         "003's C3D and ConvLSTM rows (Table 3.6) train on pixels: not in emoprep"),
        "vggface",
        pre_finetune=FinetuneStep("vggface-expression-set", Backbone.VGGFACE, Task.EMOTION,
                                  None),
    ),
    Profile.THESIS_SASE_FE: ExperimentSpec(
        "000: InceptionResnetV1 fine-tuned end to end on single aligned frames with two heads "
        "(emotion, real/fake), MFL losses combined by precision, one 80/20 subject split, "
        "accuracies per frame",
        (Trial("multitask", Task.MULTITASK),),
        (Reported("emotion accuracy (MFL, MFL, precision loss)", 54.609, "000 Table 4.6",
                  "finetune", "emotion/accuracy"),
         Reported("real/fake accuracy", 53.713, "000 Table 4.6", "finetune",
                  "authenticity/accuracy"),
         Reported("overall accuracy (both right)", 30.150, "000 Table 4.6", "finetune",
                  "combined_accuracy"),
         Reported("frozen backbone + trained classifiers, emotion accuracy", 33.217,
                  "000 Table 4.5", "multitask", "emotion/accuracy")),
        (),
        ("the fine-tuning step trains on fold 0's training part and is scored on its validation "
         "part (the one 80/20 subject split, 000 §4.1), on at most train.finetune."
         "frames_per_video frames per video (000 uses every frame of the window)",
         "the frozen row (000 Table 4.5, with its augmentation) is matched by sequence heads on "
         "frozen embeddings scored per video (the trial 'multitask', mean of the folds)"),
        "inception_resnet_v1",
        finetunes=(FinetuneStep("finetune", Backbone.IRV1, Task.MULTITASK, 0),),
    ),
    Profile.THESIS_AFFECTNET: ExperimentSpec(
        "004: ImageNet DenseNet121 fine-tuned on AffectNet faces, 8 classes, class-weighted "
        "cross-entropy, mean class accuracy; without alignment, aligned, aligned and augmented",
        (),
        (Reported("pretrained DenseNet121 + weighted loss, no alignment (8 classes)", 57.3,
                  "004 Table 3.1", "no-alignment/densenet121-plain", f"emotion/{MCA}"),
         Reported("* + alignment (8 classes)", 59.5, "004 Table 3.1", "densenet121-plain",
                  f"emotion/{MCA}"),
         Reported("* + alignment + augmentation (8 classes)", 61.4, "004 Table 3.1",
                  "densenet121", f"emotion/{MCA}")),
        (),
        ("004 scores AffectNet's validation set (500 images per class, §3.5); emoprep scores its "
         "own subject split of the images listed (each image its own subject), by the final "
         "model fine-tuned on every other image",
         "the row without alignment is the detected box resized (stages.align.method=box, in "
         "OUT/variants/no-alignment); 004 does not say how its unaligned faces were cropped",
         "the rows without augmentation fine-tune with train.finetune.augment off (004 Table "
         "3.1 adds the augmentation last)"),
        variants=(Variant("no-alignment", ("stages.align.method=box",),
                          ("densenet121-plain",)),),
        finetunes=(FinetuneStep("densenet121", Backbone.DENSENET121, Task.EMOTION, None),
                   FinetuneStep("densenet121-plain", Backbone.DENSENET121, Task.EMOTION, None,
                                augment=False)),
    ),
    Profile.THESIS_NVIE: ExperimentSpec(
        "002: NVIE apex images at 96 x 96, posed vs spontaneous (2 classes) and spontaneous/posed "
        "x emotion (12 classes): the shallow CNN of Table 4.2 trained from scratch, Inception V4 "
        "fine-tuned from your ImageNet file, the SVM baseline on pixels",
        (),
        (Reported("shallow CNN, 2 classes", 71.6, "002 Table 5.1", "cnn-2", _AUTH),
         Reported("Inception V4, 2 classes", 67.4, "002 Table 5.1", "inception-v4-2", _AUTH),
         Reported("SVM, 2 classes", 53.8, "002 Table 5.1", "svm-2", _AUTH),
         Reported("shallow CNN, 12 classes", 22.7, "002 Table 5.4", "cnn-12", _JOINT),
         Reported("Inception V4, 12 classes", 17.3, "002 Table 5.4", "inception-v4-12", _JOINT),
         Reported("SVM, 12 classes", 17.2, "002 Table 5.4", "svm-12", _JOINT)),
        (),
        ("the CNN trains on fold 0's training part, stops early on its validation part and is "
         "scored there per image (002 reports one figure per model and describes no split; "
         "§5.1 stops on validation loss, emoprep on validation accuracy); the SVM fits the same "
         "training part and is scored on the same images",
         "the SVM uses 002's search result (poly kernel, C 0.01, gamma 0.001, §4.4.4) without "
         "rerunning the random search over Table 4.3",
         "Inception V4 is fine-tuned from your timm-layout ImageNet file (train.finetune.weights; "
         "its rows are skipped without one) with 002's final learning rate and dropout (Fig. "
         "5.6, 5.11), every block trained (002 searched train layer modes, Fig. 4.6 and 5.3-5.5, "
         "and does not say which mode its final runs used), the crops resized to "
         "train.finetune.input_size (default 299; 002 gives none)"),
        finetunes=(FinetuneStep("cnn-2", Backbone.SHALLOW_CNN, Task.AUTHENTICITY, 0, tag="2"),
                   FinetuneStep("cnn-12", Backbone.SHALLOW_CNN, Task.JOINT, 0, tag="12"),
                   # 002 Fig. 5.6 (2 classes) and Fig. 5.11 (12): lr 0.0005, dropout 0.4 / 0.7
                   FinetuneStep("inception-v4-2", Backbone.INCEPTION_V4, Task.AUTHENTICITY, 0,
                                tag="2", lr=0.0005, dropout=0.4, optional=True),
                   FinetuneStep("inception-v4-12", Backbone.INCEPTION_V4, Task.JOINT, 0,
                                tag="12", lr=0.0005, dropout=0.7, optional=True)),
        svms=(SvmStep("svm-2", Task.AUTHENTICITY, 0), SvmStep("svm-12", Task.JOINT, 0)),
    ),
}
