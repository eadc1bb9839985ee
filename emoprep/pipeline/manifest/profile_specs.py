"""The method profiles' settings: for each :class:`Profile` a versioned :class:`ProfileSpec`
of :class:`Rule` s (manifest key, value, source location) and notes. How they are applied:
:mod:`emoprep.pipeline.manifest.profiles`. Sources: *V* the video-FER thesis (BU-4DFE), *V code*
its code, *S* the multi-task real/fake emotion thesis (SASE-FE), *A* the categorical/continuous
FER thesis (AffectNet).
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


@dataclass(frozen=True)
class Rule:
    """One setting of a profile.

    rule: what the source does, in words; source: where (thesis and part, or algorithm); key:
    dotted manifest path (below ``stages.embed.<name>`` for an embedder rule); value: the
    manifest value; embed_type: for an embedder rule, the ``type`` it applies to.
    """

    rule: str
    source: str
    key: str
    value: Any
    embed_type: str | None = None

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


#: source codes (docs/METHODS.md names the theses)
S, V, VC, A = "S", "V", "V code", "A"
_NO_CONFIRM = "emoprep: confirmation (track.confirm) is emoprep's addition, off"

#: emoprep 0.1's trainer settings, which the thesis profiles keep now that emoprep's own defaults
#: changed (issue 21); the values in effect are the same, so the versions stay
_V_TRAIN = f"{V}, cascade network: LSTM baseline settings"
_S_TRAIN = "emoprep 0.1 trainer (S trains end to end with SGD)"
_NO_SKIP = "emoprep: the linear skip (train.linear_skip) is emoprep's addition, off"


def _train_rules(source: str, standardize_source: str) -> tuple[Rule, ...]:
    """Adam at 1e-4, 40 epochs, no early stopping, no weight decay, raw features."""
    return (
        Rule("Adam at a fixed learning rate of 0.0001", source, "train.optim.lr", 0.0001),
        Rule("40 epochs", source, "train.optim.epochs", 40),
        Rule("no early stopping in cross-validation", source, "train.optim.early_stopping",
             False),
        Rule("no weight decay", source, "train.optim.weight_decay", 0.0),
        Rule("features fed as extracted", standardize_source, "train.standardize", False),
        Rule("the head alone (no linear skip)", _NO_SKIP, "train.linear_skip", False),
    )


_SASE_FE = ProfileSpec(
    1,
    "SASE-FE thesis: naive per-frame Haar, 40-90 % window, 160 px box crops, "
    "InceptionResnetV1, 80/20 subjects",
    (
        Rule(
            "frames 40-90 % of each video",
            f"{S}, preprocessing: frame selection",
            "stages.window.mode",
            "fraction",
        ),
        Rule(
            "window start 40 %", f"{S}, preprocessing: frame selection", "stages.window.start", 0.4
        ),
        Rule("window end 90 %", f"{S}, preprocessing: frame selection", "stages.window.end", 0.9),
        Rule(
            "Haar frontal-face cascade",
            f"{S}, preprocessing: face detection",
            "stages.detect.backend",
            "haar",
        ),
        Rule(
            "the largest face of the frame",
            f"{S}, preprocessing: face detection",
            "stages.detect.select",
            "largest",
        ),
        Rule(
            "detector on every frame, no tracker",
            f"{S}, preprocessing: face detection",
            "stages.track.backend",
            "none",
        ),
        Rule("every detection accepted", _NO_CONFIRM, "stages.track.confirm", 0),
        Rule(
            "the detected box cropped (no rotation)",
            f"{S}, preprocessing: face cropping",
            "stages.align.method",
            "box",
        ),
        Rule(
            "no extension of the box (the 10 px are V's)",
            f"{S}, preprocessing: face cropping",
            "stages.align.box_pad_y",
            0,
        ),
        Rule(
            "crop resized to 160 x 160",
            f"{S}, preprocessing: face cropping",
            "stages.align.size",
            160,
        ),
        Rule(
            "InceptionResnetV1 input 160 x 160",
            f"{S}, feature extraction (InceptionResnetV1)",
            "input_size",
            160,
            "inception_resnet_v1",
        ),
        Rule(
            "InceptionResnetV1 embeddings L2-normalised",
            f"{S}, feature extraction (InceptionResnetV1)",
            "l2_normalize",
            True,
            "inception_resnet_v1",
        ),
        Rule(
            "80/20 split of the subjects, no test part",
            f"{S}, experimental setup: data split",
            "stages.split.test_fraction",
            0.0,
        ),
        Rule(
            "validation part 20 % of the subjects (fold 1 of 5 is the thesis's one split)",
            f"{S}, experimental setup: data split",
            "stages.split.folds",
            5,
        ),
        *_train_rules(_S_TRAIN, _S_TRAIN),
    ),
    (
        "Embedder weights are yours to bring: stages.embed.<name>: {type: inception_resnet_v1, "
        "weights: /path/20180402-114759-vggface2.pt} (facenet-pytorch's VGGFace2 state dict).",
        "Labels: the sase-fe preset (labels.preset: sase-fe).",
    ),
)

_BU4DFE = ProfileSpec(
    1,
    "video-FER thesis: Haar then MedianFlow, 10 px box extension, 160 px box "
    "crops, OpenFace Algorithm 1, thesis augmentations, VGGFace pool5",
    (
        Rule(
            "Haar frontal-face cascade on the first frame",
            f"{V}, preprocessing: face detection",
            "stages.detect.backend",
            "haar",
        ),
        Rule(
            "box extended by 10 px vertically (mouth movement)",
            f"{V}, preprocessing: face tracking",
            "stages.detect.pad_y",
            10,
        ),
        Rule(
            "MedianFlow tracks the extended box",
            f"{V}, preprocessing: face tracking",
            "stages.track.backend",
            "medianflow",
        ),
        Rule("no periodic re-detection", f"{VC}, tracking loop", "stages.track.redetect_every", 0),
        Rule("the first detection accepted", _NO_CONFIRM, "stages.track.confirm", 0),
        Rule(
            "the tracked (extended) box cropped, no rotation",
            f"{V}, preprocessing: face tracking",
            "stages.align.method",
            "box",
        ),
        Rule(
            "crop = tracked box + 10 px above and below",
            f"{VC}, cropping",
            "stages.align.box_pad_y",
            10,
        ),
        Rule(
            "faces resized to 160 x 160",
            f"{V}, preprocessing: face tracking",
            "stages.align.size",
            160,
        ),
        Rule(
            "faces stored losslessly (gzip HDF5)",
            f"{V}, preprocessing: storage",
            "stages.store.compression",
            "gzip",
        ),
        Rule(
            "neutral frames trimmed by AU scores",
            f"{V}, Algorithm 1",
            "stages.window.mode",
            "au_trim",
        ),
        Rule(
            "AU intensities from OpenFace",
            f"{V}, Algorithm 1 (OpenFace AU intensities)",
            "stages.au.source",
            "openface_csv",
        ),
        Rule(
            "threshold 0.5 x the video's max score",
            f"{V}, Algorithm 1",
            "stages.trim.threshold",
            0.5,
        ),
        Rule("always cut the last 10 frames", f"{V}, Algorithm 1", "stages.trim.min_end_cut", 10),
        Rule(
            "max in the last 20 frames: anomaly",
            f"{V}, Algorithm 1",
            "stages.trim.anomaly_last",
            20,
        ),
        Rule("never cut more than half the video", f"{V}, Algorithm 1", "stages.trim.max_cut", 0.5),
        Rule(
            "cap tested after both cuts (as printed)",
            f"{V}, Algorithm 1 (listing)",
            "stages.trim.cap",
            "pseudocode",
        ),
        Rule(
            "frame counts are video frames", f"{V}, Algorithm 1", "stages.trim.count_in", "source"
        ),
        Rule(
            "the nine augmentations as the code does them",
            f"{VC}, augmentation",
            "stages.augment.names",
            [a.value for a in THESIS_AUGMENTATIONS],
        ),
        Rule(
            "test F001-F010 + M001-M010, F016 out; folds as Fig. 3.6: fold0 F011-F015 + "
            "F017-F027, fold1 F028-F043, fold2 F044-F058 + M011, fold3 M012-M027, fold4 M028-M043",
            f"{V}, Fig. 3.6",
            "stages.split",
            "bu4dfe_thesis_split()",
        ),
        Rule(
            "VGGFace features after pool5 (25088)",
            f"{V}, feature extraction (VGGFace)",
            "layer",
            "pool5",
            "vggface",
        ),
        Rule(
            "VGGFace input 224 x 224 (7 x 7 pool5)",
            f"{V}, feature extraction (VGGFace)",
            "input_size",
            224,
            "vggface",
        ),
        *_train_rules(_V_TRAIN, f"{V}, cascade network (no feature scaling named)"),
    ),
    (
        "Head truncation to 100 steps is an export option: emoprep export --max-len 100 --pad "
        "head.",
        "Embedder weights are yours to bring: stages.embed.<name>: {type: vggface, weights: "
        "/path/vgg_face_dag.pth} (Oxford VGG-Face, vgg_face_dag key names).",
        "OpenFace CSVs are yours to bring: stages.au.openface_csv (default {stem}.csv next to the "
        "videos).",
        "Labels and the thesis split's subject ids: the bu4dfe preset (labels.preset: bu4dfe).",
        "After a tracker failure emoprep runs the detector on the same frame (the thesis does not "
        "say "
        "what its code does then).",
    ),
)

_AFFECTNET = ProfileSpec(1, "AffectNet thesis: eye-based alignment (emoprep 0.1's crop)", (
    Rule("eye centroids of points 37-42 / 43-48, one rotation + scale", f"{A}, face alignment",
         "stages.align.method", "eyes"),
    Rule("crop side 160 px", "emoprep 0.1 default (A gives no size we could check)",
         "stages.align.size", 160),
    Rule("inter-ocular distance 0.30 S", "emoprep 0.1 default (A gives no value we could check)",
         "stages.align.eye_distance", 0.3),
    Rule("eye line at 0.40 S", "emoprep 0.1 default (A gives no value we could check)",
         "stages.align.eye_y", 0.4),
), ("emoprep's default eye line moved to 0.28 S so the jaw stays in the crop (benchmarks/crop.py); "
    "this profile keeps the 0.40 of emoprep 0.1.",))

PROFILES: dict[Profile, ProfileSpec] = {
    Profile.EMOPREP: ProfileSpec(1, "emoprep's own method: the defaults, nothing changed"),
    Profile.THESIS_SASE_FE: _SASE_FE,
    Profile.THESIS_BU4DFE: _BU4DFE,
    Profile.THESIS_AFFECTNET: _AFFECTNET,
}

#: rule values that stand for a longer value (the METHODS.md tables write the name)
NAMED_VALUES: dict[str, Any] = {"bu4dfe_thesis_split()": bu4dfe_thesis_split}
