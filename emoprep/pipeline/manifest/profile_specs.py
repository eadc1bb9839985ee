"""The method profiles' settings: for each :class:`Profile` a versioned :class:`ProfileSpec`
of :class:`Rule` s (manifest key, value, where the source document says so, and what was chosen
where it says nothing) and notes. How they are applied: :mod:`emoprep.pipeline.manifest.profiles`.
Sources are the documents of ../shared/seeds named by number (docs/METHODS.md lists them): *000*
the multi-task real/fake emotion thesis (SASE-FE), *003* the video-FER thesis (BU-4DFE), *004*
the categorical/continuous FER thesis (AffectNet), *002* the spontaneous/posed thesis (NVIE);
section, table, figure or equation numbers are the documents' own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import Enum
from typing import Any

from emoprep.pipeline.manifest.presets import bu4dfe_thesis_split
from emoprep.stages.embed.augment import THESIS_AUGMENTATIONS

#: the manifest section of the embedders (embedder rules apply to every one of a type)
EMBED = "stages.embed"


class Profile(str, Enum):
    """The method profiles (``profile:`` in the manifest, ``--profile`` on the command line)."""

    EMOPREP = "emoprep"  #: emoprep's own improved method: no changes (default)
    THESIS_SASE_FE = "thesis-sase-fe"  #: the multi-task real/fake emotion thesis (SASE-FE)
    THESIS_BU4DFE = "thesis-bu4dfe"  #: the video-FER thesis (BU-4DFE) and its code
    THESIS_AFFECTNET = "thesis-affectnet"  #: the categorical/continuous FER thesis (AffectNet)
    THESIS_NVIE = "thesis-nvie"  #: the spontaneous vs posed thesis (NVIE apex images)


@dataclass(frozen=True)
class Rule:
    """One setting of a profile.

    rule: what the source does, in words; source: where (document number and section, table,
    figure, equation); key: dotted manifest path (below ``stages.embed.<name>`` for an embedder
    rule); value: the manifest value; embed_type: for an embedder rule, the ``type`` it applies
    to; chosen: empty when the document gives the value, else what was chosen and why (the
    METHODS.md tables write "the document gives no value; chosen: ..."); unclear: the document
    gives the value but not all of its meaning, or contradicts itself ("the document is not clear;
    chosen: ...").
    """

    rule: str
    source: str
    key: str
    value: Any
    embed_type: str | None = None
    chosen: str = ""
    unclear: bool = False

    @property
    def label(self) -> str:
        """The key as the METHODS.md tables write it (``stages.embed.*.layer [type vggface]``)."""
        return f"{EMBED}.*.{self.key} [type {self.embed_type}]" if self.embed_type else self.key


@dataclass(frozen=True)
class ProfileSpec:
    """A profile: its version (bumped when a value changes), what it reproduces, its rules and
    the notes that are not manifest keys."""

    version: int
    summary: str
    rules: tuple[Rule, ...] = ()
    notes: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        """Rule label -> value (deep copies), in rule order."""
        return {r.label: copy.deepcopy(r.value) for r in self.rules}


_NO_CONFIRM = "emoprep's confirmation (track.confirm), off: no document has it"
IRV1, VGG = "inception_resnet_v1", "vggface"


def _r(rule: str, source: str, key: str, value: Any, chosen: str = "",
       embed: str | None = None, unclear: bool = False) -> Rule:
    return Rule(rule, source, key, value, embed, chosen, unclear)


_SASE_FE = ProfileSpec(
    2,
    "SASE-FE thesis (000): per-frame Haar, 40-90 % window, box crops, InceptionResnetV1, 80/20 "
    "subjects, multi-task heads with MFL and precision-weighted loss, SGD with a plateau schedule",
    (
        _r("frames from 40 % to 90 % of each video", "000 §3.1, §3.2", "stages.window.mode",
           "fraction"),
        _r("window start 40 %", "000 §3.1", "stages.window.start", 0.4),
        _r("window end 90 %", "000 §3.1", "stages.window.end", 0.9),
        _r("Haar cascade face detection", "000 §3.1, §3.3", "stages.detect.backend", "haar"),
        _r("one face kept per frame", "000 §3.1", "stages.detect.select", "largest",
           "largest (one participant per video)"),
        _r("faces detected in every generated frame, no tracker", "000 §3.1 (steps 2-3), §3.3",
           "stages.track.backend", "none"),
        _r("every detection accepted", _NO_CONFIRM, "stages.track.confirm", 0),
        _r("detected faces cropped, no alignment", "000 §3.1", "stages.align.method", "box"),
        _r("no margin around the detected box", "000 §3.1", "stages.align.box_pad_y", 0,
           "0 (the detected box as it is)"),
        _r("crop side", "000 §3.1", "stages.align.size", 160,
           "160 px, the input side of facenet-pytorch's VGGFace2 InceptionResnetV1"),
        _r("InceptionResnetV1 input side", "000 §3.1, Table 3.1", "input_size", 160,
           "160 px, as the crop", IRV1),
        _r("InceptionResnetV1 embedding", "000 §3.1, Table 3.1", "l2_normalize", True,
           "unit length, facenet-pytorch's output", IRV1),
        _r("80 % / 20 % of the subjects for training / validation, no test part", "000 §4.1",
           "stages.split.test_fraction", 0.0),
        _r("the validation part is 20 % of the subjects", "000 §4.1", "stages.split.folds", 5,
           "5 folds; fold 0 stands for the document's one split"),
        _r("two heads on one trunk: emotion and real/fake", "000 §3.2, Fig. 3.2", "train.task",
           "multitask"),
        _r("multi-label focal loss for both heads (best row)", "000 §3.2.2 eq. 3.2, Table 4.6",
           "train.loss.kind", "multilabel_focal"),
        _r("MFL alpha", "000 §3.2.2", "train.loss.alpha", 0.25, "0.25 (focal-loss paper)"),
        _r("MFL gamma", "000 §3.2.2", "train.loss.gamma", 2.0, "2 (focal-loss paper)"),
        _r("losses weighted by each head's precision (best row)", "000 §3.2.3 eq. 3.3, Table 4.6",
           "train.loss.combine", "precision"),
        _r("stochastic gradient descent", "000 §4.3, §4.4", "train.optim.optimizer", "sgd"),
        _r("SGD momentum", "000 §4.3", "train.optim.momentum", 0.9, "0.9, 004 §3.5's SGD"),
        _r("learning rate", "000 §4.3", "train.optim.lr", 0.001, "0.001, 004 §3.5's SGD"),
        _r("learning rate reduced on a plateau", "000 §4.2.4, §4.3", "train.optim.plateau", True),
        _r("the plateau is one of the loss", "000 §4.3", "train.optim.plateau_monitor",
           "val_loss"),
        _r("plateau factor (0.1 and 0.5 tried)", "000 §4.2.4", "train.optim.plateau_factor", 0.5,
           "0.5"),
        _r("plateau patience", "000 §4.2.4", "train.optim.plateau_patience", 5, "5 epochs"),
        _r("no data augmentation (it scored lower)", "000 §4.4, Table 4.5", "train.use_augmented",
           False),
        _r("epochs", "000 §4.3", "train.optim.epochs", 40, "40 (emoprep 0.1's)"),
        _r("batch size", "000 §4.3", "train.optim.batch_size", 32, "32"),
        _r("no early stopping named", "000 §4.3", "train.optim.early_stopping", False,
           "off; the best validation epoch is kept"),
        _r("no weight decay named", "000 §4.3", "train.optim.weight_decay", 0.0, "0"),
        _r("normalisation is of the input images", "000 Table 4.5", "train.standardize", False,
           "embeddings fed as extracted"),
    ),
    (
        "000 fine-tunes the whole InceptionResnetV1 on single frames (§4.3, Table 4.5: frozen 33.2 "
        "vs trained 51.7 emotion accuracy); emoprep train trains heads on frozen embeddings, "
        "emoprep finetune --backbone inception_resnet_v1 (--freeze: frozen) fine-tunes on frames "
        "(docs/TRAIN.md, Frame-level training and fine-tuning).",
        "000 counts the combined accuracy per frame (§3.2.1); emoprep counts items (videos).",
        "000 names VGGFace2 weights (Table 3.1, §3.1) and ImageNet ones (Table 4.4) for "
        "InceptionResnetV1; this profile expects the VGGFace2 ones: stages.embed.<name>: {type: "
        "inception_resnet_v1, weights: /path/20180402-114759-vggface2.pt}.",
        "001 says 643 videos of 54 subjects, 000 §4.1 and Table 4.1 600 of 50.",
        "Pick the head with --head (000's heads sit on a frame model; for frame sets: mlp).",
        "Labels: the sase-fe preset (labels.preset: sase-fe); its clip codes (N2H, S2N2H, ...) "
        "are the dataset's file names, which 000 and 001 do not list.",
    ),
)

_BU4DFE = ProfileSpec(
    2,
    "video-FER thesis (003): Haar then MedianFlow, 10 px box extension, 160 px box crops, "
    "OpenFace Algorithm 1, thesis augmentations, VGGFace pool5, Fig. 3.6 folds, the final-run "
    "protocol of its LSTM / BiLSTM / 1D-CNN (Adam 1e-4, 100 steps, LR x0.5 on val accuracy)",
    (
        _r("Haar cascade on the first frames", "003 §3.2.1", "stages.detect.backend", "haar"),
        _r("box extended by 10 px vertically before tracking", "003 §3.2.1, Fig. 3.2",
           "stages.detect.pad_y", 10),
        _r("MedianFlow tracks the extended box", "003 §3.2.1", "stages.track.backend",
           "medianflow"),
        _r("tracked through the video after the first detection", "003 §3.2.1",
           "stages.track.redetect_every", 0),
        _r("the first detection accepted", _NO_CONFIRM, "stages.track.confirm", 0),
        _r("the tracked box resized, no alignment", "003 §3.2.1, Fig. 3.2",
           "stages.align.method", "box"),
        _r("crop margin around the tracked box", "003 §3.2.1, Fig. 3.2", "stages.align.box_pad_y",
           10, "10 px above and below, as the thesis's code crops (not among the documents)"),
        _r("faces resized to 160 x 160", "003 §3.2.1", "stages.align.size", 160),
        _r("faces stored with lossless compression", "003 §3.2.1", "stages.store.compression",
           "gzip"),
        _r("neutral frames cut by AU scores", "003 §3.2.1, Algorithm 1", "stages.window.mode",
           "au_trim"),
        _r("AU intensities from OpenFace (AU45 left out)", "003 §3.2.1", "stages.au.source",
           "openface_csv"),
        _r("cut below half the video's maximum score", "003 Algorithm 1 line 2",
           "stages.trim.threshold", 0.5),
        _r("always cut the last 10 frames", "003 Algorithm 1 line 1", "stages.trim.min_end_cut",
           10),
        _r("maximum within the last 20 frames: anomaly", "003 §3.2.1", "stages.trim.anomaly_last",
           20),
        _r("never cut more than half the video", "003 Algorithm 1 line 3", "stages.trim.max_cut",
           0.5),
        _r("cap tested after both cuts (as printed)", "003 Algorithm 1 line 18",
           "stages.trim.cap", "pseudocode"),
        _r("frame counts are video frames", "003 Algorithm 1", "stages.trim.count_in", "source"),
        _r("the nine offline augmentations of the listing", "003 §3.2.4 (Data Augmentation)",
           "stages.augment.names", [a.value for a in THESIS_AUGMENTATIONS]),
        _r("test F001-F010 + M001-M010, F016 out; folds as Fig. 3.6: fold0 F011-F015 + "
           "F017-F027, fold1 F028-F043, fold2 F044-F058 + M011, fold3 M012-M027, fold4 M028-M043",
           "003 Fig. 3.6", "stages.split", "bu4dfe_thesis_split()"),
        _r("VGGFace features after the last max-pool (7 x 7 x 512 = 25088)",
           "003 §3.2.4 (Fig. 3.13), §3.3.2", "layer", "pool5", "", VGG),
        _r("VGGFace input side", "003 §3.2.4 (Fig. 3.13)", "input_size", 224,
           "224 px, the side that gives the 7 x 7 pool5", VGG),
        _r("Adam", "003 §3.2.3, §3.2.4 (LSTM settings)", "train.optim.optimizer", "adam"),
        _r("learning rate 0.0001", "003 §3.2.3, §3.2.4 (LSTM settings)", "train.optim.lr", 0.0001),
        _r("batch size 32", "003 §3.2.4 (LSTM settings)", "train.optim.batch_size", 32),
        _r("40 epochs", "003 §3.2.4 (LSTM settings)", "train.optim.epochs", 40),
        _r("input of 100 steps, longer videos truncated", "003 §3.2.3", "train.max_len", 100),
        _r("which end is truncated", "003 §3.2.3", "train.seq_cut", "end",
           "the end (the first 100 steps kept)"),
        _r("LR decay when validation accuracy stops improving", "003 §3.2.4 (LSTM settings)",
           "train.optim.plateau", True),
        _r("the decay watches accuracy", "003 §3.2.4 (LSTM settings)",
           "train.optim.plateau_monitor", "val_acc"),
        _r("decay factor 0.5", "003 §3.2.4 (LSTM settings)", "train.optim.plateau_factor", 0.5),
        _r("after 5 epochs without improvement", "003 §3.2.4 (LSTM settings)",
           "train.optim.plateau_patience", 5),
        _r("early stopping for the final runs", "003 §3.2.4 (LSTM settings, Final model)",
           "train.optim.early_stopping", True),
        _r("patience 10 epochs on validation accuracy", "003 §3.2.4 (Final model)",
           "train.optim.early_stopping_patience", 10),
        _r("final model on all training subjects for the folds' mean epoch",
           "003 §3.2.3 (Finalizing model), §3.2.4 (Final model)", "train.final_model", True),
        _r("offline augmented copies in training (LSTM: all nine)",
           "003 §3.2.4 (Data Augmentation), §3.3.2", "train.use_augmented", True),
        _r("softmax output, one unit per emotion", "003 §3.2.3", "train.loss.kind", "ce",
           "cross-entropy (the loss it names for its classifiers, §3.2.4)"),
        _r("no weight decay named", "003 §3.2.4 (LSTM settings)", "train.optim.weight_decay", 0.0,
           "0"),
        _r("no feature scaling named", "003 §3.2.4", "train.standardize", False,
           "features fed as extracted"),
        _r("one LSTM layer of 128", "003 §3.3.2", "train.lstm.hidden", 128),
        _r("LSTM input dropout 0.4", "003 §3.2.4 (Dropout), §3.3.2", "train.lstm.input_dropout",
           0.4),
        _r("one BiLSTM layer of 128", "003 §3.3.2", "train.bilstm.hidden", 128),
        _r("BiLSTM drop rate 0.7", "003 §3.3.2", "train.bilstm.output_dropout", 0.7,
           "on the final states (where it applies is not said)", unclear=True),
    ),
    (
        "This is the protocol of 003's final runs, which made Table 3.6. Its cross-validation "
        "phase (§3.2.3) had a fixed LR, 40 epochs, no early stopping and curves averaged epoch by "
        "epoch over the folds: --set train.optim.plateau=false --set "
        "train.optim.early_stopping=false --set train.final_model=false.",
        "Shorter inputs were zero-padded and masked (§3.2.3): emoprep always masks the padding.",
        "003's BiLSTM used three augmented copies (§3.3.2); use_augmented takes all of them.",
        "003's VGGFace was fine-tuned on FER2013 first (§3.2.4); the weights are yours to bring: "
        "stages.embed.<name>: {type: vggface, weights: /path/vgg_face_dag.pth}; emoprep finetune "
        "--backbone vggface fine-tunes them on an expression set first (docs/TRAIN.md).",
        "Anomalies were reworked by hand (§3.2.1): stages.trim.overrides takes such ranges.",
        "OpenFace CSVs are yours to bring: stages.au.openface_csv (default {stem}.csv next to "
        "the videos).",
        "Labels and the thesis split's subject ids: the bu4dfe preset (labels.preset: bu4dfe), "
        "which reads the frame-folder release (F001/Angry/*.jpg); 003 names its videos like "
        "M042_happy_tex.avi (§3.2.1, §3.2.4).",
        "After a tracker failure emoprep runs the detector on the same frame (003 does not say "
        "what its code does then).",
    ),
)

_AFFECTNET = ProfileSpec(3, "AffectNet thesis (004): eye-based alignment; SGD 1e-3 momentum 0.9, "
                         "batch 35, 10 epochs, class-weighted cross-entropy", (
    _r("eye centroids of points 37-42 / 43-48, one rotation + scale", "004 §3.1 eq. 3.1.1-3.1.2",
       "stages.align.method", "eyes"),
    _r("still images, each one item", "004 §3.1, §3.5", "stages.window.mode", "all",
       "all: an image is one frame (the default window keeps 40-90 % of a video)"),
    _r("crop side", "004 §3.1", "stages.align.size", 160, "160 px (emoprep 0.1's)"),
    _r("inter-ocular distance (desired_distance)", "004 §3.1 eq. 3.1.2",
       "stages.align.eye_distance", 0.3, "0.30 S (emoprep 0.1's)"),
    _r("eye line height", "004 §3.1", "stages.align.eye_y", 0.4, "0.40 S (emoprep 0.1's)"),
    _r("stochastic gradient descent", "004 §3.5", "train.optim.optimizer", "sgd"),
    _r("momentum 0.9", "004 §3.5", "train.optim.momentum", 0.9),
    _r("learning rate 0.001", "004 §3.5", "train.optim.lr", 0.001),
    _r("batch size 35", "004 §3.5", "train.optim.batch_size", 35),
    _r("10 epochs for every network", "004 §3.5", "train.optim.epochs", 10),
    _r("no early stopping (a fixed 10 epochs)", "004 §3.5", "train.optim.early_stopping", False),
    _r("categorical cross-entropy", "004 §3.3 eq. 3.3.2", "train.loss.kind", "ce"),
    _r("classes weighted against imbalance", "004 §3.3 eq. 3.3.3-3.3.4",
       "train.loss.class_weighted", True,
       "weights N / (K n_k), the text's intent: eq. 3.3.4 as printed (f_i / f_min) weights "
       "common classes up", unclear=True),
    _r("no weight decay named", "004 §3.5", "train.optim.weight_decay", 0.0, "0"),
), (
    "emoprep's default eye line moved to 0.28 S so the jaw stays in the crop (benchmarks/crop.py); "
    "this profile keeps the 0.40 of emoprep 0.1.",
    "004 fine-tunes a pretrained DenseNet121 (Table 3.1); emoprep trains a head on frozen "
    "embeddings: pick --head mlp or linear (still images).",
    "004 augments online with random flip, brightness, contrast, rotation, hue and saturation "
    "(§3.1); emoprep's augmentations are fixed offline copies.",
    "004 scores mean class accuracy (§3.5) on a balanced validation set (500 per class), where it "
    "equals the accuracy emoprep reports.",
    "Table 3.1: 57.3 % without and 59.5 % with the alignment (8 classes); 004 drops contempt "
    "for its 7-class results.",
    "Labels: the affectnet preset (labels.preset: affectnet) reads the release's CSV as "
    "videos.csv (expression codes 0-7; rows coded 8-10 are unmatched); its face boxes are not "
    "used: emoprep detects the face.",
))

_NVIE = ProfileSpec(1, "spontaneous/posed thesis (002): NVIE apex images fed whole at 96 x 96, "
                    "posed vs spontaneous (2 classes; joint: 12), the final shallow-CNN settings "
                    "(lr 5e-5, batch 64, dropout 0.4, L2, augmentation, early stopping)", (
    _r("apex images fed to the model as they are, no face detection", "002 §1.3, §4.3",
       "stages.detect.backend", "none",
       "none: the whole image is the face (002 names no detector; NVIE faces fill a blue-backed "
       "frame, §4.2)"),
    _r("the image resized, no alignment", "002 §4.3, Table 4.2", "stages.align.method", "box"),
    _r("no margin added", "002 §4.3", "stages.align.box_pad_y", 0, "0 (the image as it is)"),
    _r("shallow CNN input 96 x 96 x 3", "002 §4.4.3, Table 4.2", "stages.align.size", 96),
    _r("one apex image per item", "002 §1.3, §4.3.1", "stages.window.mode", "all",
       "all: an image is one frame"),
    _r("random imgaug transforms: rotation, scaling, translation, blur, flip, crop, contrast, "
       "noise, colour", "002 §4.3.2, Fig. 4.4", "stages.augment.names",
       ["flip", "blur3", "contrast_x2", "rotate_p8", "rotate_m8", "salt_pepper_1"],
       "emoprep's fixed copies of the kinds it has (flip, blur, contrast, rotation, noise); "
       "002 gives no parameters"),
    _r("no train/test split described", "002 §4.4, §5.1", "stages.split.test_fraction", 0.2,
       "20 % of the subjects held out for test, 5 subject folds (emoprep's default)"),
    _r("experiment 1: posed vs spontaneous (2 classes)", "002 §5.1, Table 5.1", "train.task",
       "authenticity"),
    _r("the shallow CNN of Table 4.2", "002 §4.4.3, Table 4.2", "train.head", "mlp",
       "mlp on frozen embeddings: the CNN trains from pixels, which emoprep's trainer cannot"),
    _r("dropout 0.4 (final CNN)", "002 §5.1, Fig. 5.9", "train.mlp.dropout", 0.4),
    _r("learning rate 0.00005 (final CNN)", "002 §5.1, Fig. 5.9", "train.optim.lr", 0.00005),
    _r("batch size 64 (final CNN)", "002 §5.1, Fig. 5.9", "train.optim.batch_size", 64),
    _r("L2 regularisation (final CNN)", "002 §5.1, Fig. 5.9", "train.optim.weight_decay", 0.0001,
       "0.0001 (002 gives no strength)"),
    _r("data augmentation in training (final CNN)", "002 §5.1, Fig. 5.9",
       "train.use_augmented", True),
    _r("early stopping (final runs)", "002 §5.1", "train.optim.early_stopping", True),
    _r("early-stopping patience", "002 §5.1", "train.optim.early_stopping_patience", 10,
       "10 epochs"),
    _r("epochs", "002 §5.1", "train.optim.epochs", 50,
       "50, the epoch budget of 002's final Inception V4 runs (early stopping ends sooner)"),
    _r("optimiser", "002 §4.4.1, §4.4.3", "train.optim.optimizer", "adam",
       "Adam (emoprep's default; 002 names none)"),
    _r("softmax with cross-entropy", "002 ch. 5 (introduction)", "train.loss.kind", "ce"),
), (
    "002 trains its shallow CNN (Table 4.2: two 3 x 3 conv blocks, 3872 -> 2048 -> 2 or 12) from "
    "pixels; emoprep's trainer cannot train an image CNN end to end: it trains a head on frozen "
    "embeddings of the 96 x 96 crops (pick the embedder); emoprep finetune fine-tunes pretrained "
    "IRv1 / VGGFace on frames, not a shallow CNN from scratch.",
    "The SVM baseline (002 §4.4.4, Table 4.6: 53.8 %) used a polynomial kernel, C 0.01, gamma "
    "0.001 from a random search; emoprep's nearest is the linear probe every run reports (a "
    "linear classifier on pooled embeddings) or --head linear: a linear model, on embeddings, "
    "not on pixels.",
    "002 stops when the validation loss stops decreasing (§5.1); emoprep's early stopping "
    "watches the validation accuracy.",
    "Experiment 2 (002 §5.2, Table 5.4) is 12 classes, spontaneous/posed x six emotions: "
    "--task joint (emoprep's joint class of emotion x authenticity).",
    "002 describes no split (the SVM confusion tables count 1367 and 1618 test images, §4.4.4); "
    "emoprep splits by subject.",
    "Inception V4 (002 §4.4.2, 67.4 % and 17.3 %) is fine-tuned from ImageNet weights; emoprep has "
    "no Inception V4 embedder.",
    "§5.2 says Inception V4 scored 17.2 % on 12 classes and Table 5.4 17.3 % (with the SVM at "
    "17.2 %); the experiment table quotes Table 5.4.",
    "Labels: the nvie preset (labels.preset: nvie), posed/spontaneous folders of apex images "
    "(002 §4.3.1 restructured the spontaneous part by hand; its Fig. 4.3 layout is not in the "
    "text).",
))

PROFILES: dict[Profile, ProfileSpec] = {
    Profile.EMOPREP: ProfileSpec(1, "emoprep's own method: the defaults, nothing changed"),
    Profile.THESIS_SASE_FE: _SASE_FE,
    Profile.THESIS_BU4DFE: _BU4DFE,
    Profile.THESIS_AFFECTNET: _AFFECTNET,
    Profile.THESIS_NVIE: _NVIE,
}

#: rule values that stand for a longer value (the METHODS.md tables write the name)
NAMED_VALUES: dict[str, Any] = {"bu4dfe_thesis_split()": bu4dfe_thesis_split}
