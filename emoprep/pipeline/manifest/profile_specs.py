"""The method profiles' settings: for each :class:`Profile` a versioned :class:`ProfileSpec`
of :class:`Rule` s (manifest key, value, where the source document says so, and what was chosen
where it says nothing) and notes. How they are applied: :mod:`emoprep.pipeline.manifest.profiles`.
Sources are the documents of ../shared/seeds named by number (docs/METHODS.md lists them): *000*
the multi-task real/fake emotion thesis (SASE-FE), *003* the video-FER thesis (BU-4DFE), *004*
the categorical/continuous FER thesis (AffectNet), *002* the spontaneous/posed thesis (NVIE);
section, table, figure or equation numbers are the documents' own.
"""

from __future__ import annotations

from typing import Any

from emoprep.pipeline.manifest.presets import bu4dfe_thesis_split
from emoprep.pipeline.manifest.profile_rule import EMBED, IRV1, VGG, Profile, ProfileSpec, Rule
from emoprep.pipeline.manifest.profile_rule import NO_CONFIRM as _NO_CONFIRM
from emoprep.pipeline.manifest.profile_rule import NO_SKIP as _NO_SKIP
from emoprep.pipeline.manifest.profile_rule import rule as _r
from emoprep.pipeline.manifest.profile_specs_images import AFFECTNET, NVIE
from emoprep.stages.embed.augment import THESIS_AUGMENTATIONS

__all__ = ["EMBED", "IRV1", "NAMED_VALUES", "PROFILES", "VGG", "Profile", "ProfileSpec", "Rule"]

_FER = "003 §3.2.4 (FER2013 fine-tuning)"
_AUG = "train.finetune.augment."

_SASE_FE = ProfileSpec(
    3,
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
        _r("the whole network trained without data augmentation", "000 §4.4, Table 4.6",
           "train.finetune.augment.flip", 0.0),
        _r("frames per video in fine-tuning", "000 §3.1, §4.1", "train.finetune.frames_per_video",
           16, "16 evenly spaced (000 trains on the window's frames; null: all of them)"),
        _r("epochs", "000 §4.3", "train.optim.epochs", 40, "40 (emoprep 0.1's)"),
        _r("batch size", "000 §4.3", "train.optim.batch_size", 32, "32"),
        _r("no early stopping named", "000 §4.3", "train.optim.early_stopping", False,
           "off; the best validation epoch is kept"),
        _r("no weight decay named", "000 §4.3", "train.optim.weight_decay", 0.0, "0"),
        _r("normalisation is of the input images", "000 Table 4.5", "train.standardize", False,
           "embeddings fed as extracted"),
        _r("the head alone, no linear skip", _NO_SKIP, "train.linear_skip", False),
    ),
    (
        "000 fine-tunes the whole InceptionResnetV1 on single frames (§4.3, Table 4.5: frozen 33.2 "
        "vs trained 51.7 emotion accuracy): emoprep experiment thesis-sase-fe runs emoprep "
        "finetune --backbone inception_resnet_v1 --task multitask on fold 0 (the weights of the "
        "manifest's inception_resnet_v1 embedder, or train.finetune.weights); emoprep train "
        "trains heads on frozen embeddings (docs/TRAIN.md, Frame-level training and "
        "fine-tuning).",
        "000 counts the combined accuracy per frame (§3.2.1), as emoprep finetune does; emoprep "
        "train counts items (videos).",
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
    4,
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
        _r("cross-validation result averaged over the folds epoch by epoch", "003 §3.2.3",
           "train.cv_summary", "mean_curve",
           "the figure is the mean curve's best epoch (which epoch it reads is not said)"),
        _r("anomalies reworked by hand, so the test part keeps every video", "003 §3.2.1",
           "train.keep_test_anomalies", True,
           "a flagged test video keeps its untrimmed range unless stages.trim.overrides gives one"),
        _r("offline augmented copies in training (LSTM: all nine)",
           "003 §3.2.4 (Data Augmentation), §3.3.2", "train.use_augmented", True),
        _r("the BiLSTM trained with 3 augmented copies, the LSTM with all 9", "003 §3.3.2",
           "train.augmented_copies", {"bilstm": 3},
           "the first three of the listing (flip, blur, brighter): which three is not said; the "
           "1D-CNN's count is not given either: all", unclear=True),
        _r("VGGFace fine-tuning on FER2013: rotation within 10 degrees", _FER, _AUG + "rotate",
           10.0),
        _r("zoom between 0.9 and 1.1", _FER, _AUG + "zoom", 0.1,
           "one factor for both axes (Keras draws one per axis)", unclear=True),
        _r("shift up to 10 % of the width and of the height", _FER, _AUG + "shift", 0.1),
        _r("shear range 0.15 (degrees)", _FER, _AUG + "shear", 0.15),
        _r("horizontal flip", _FER, _AUG + "flip", 0.5, "probability 0.5 (Keras's)"),
        _r("brightness factor between 0.4 and 1.5", _FER, _AUG + "brightness", [0.4, 1.5]),
        _r("VGGFace's last two convolution blocks fine-tuned, the earlier ones frozen",
           "003 §3.2.4 (FER2013 fine-tuning), Table 3.4", "train.finetune.trainable_blocks", 2),
        _r("the new classifier trained first on the frozen base", _FER,
           "train.finetune.head_epochs", 5,
           "5 epochs (003 searched the classifier over 20 trials and gives no epoch count)"),
        _r("softmax output, one unit per emotion", "003 §3.2.3", "train.loss.kind", "ce",
           "cross-entropy (the loss it names for its classifiers, §3.2.4)"),
        _r("no weight decay named", "003 §3.2.4 (LSTM settings)", "train.optim.weight_decay", 0.0,
           "0"),
        _r("no feature scaling named", "003 §3.2.4", "train.standardize", False,
           "features fed as extracted"),
        _r("the head alone, no linear skip", _NO_SKIP, "train.linear_skip", False),
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
        "003's VGGFace was fine-tuned on FER2013 first (§3.2.4, Table 3.4: 69 % test accuracy); "
        "the weights are yours to bring: stages.embed.<name>: {type: vggface, weights: "
        "/path/vgg_face_dag.pth}; emoprep experiment thesis-bu4dfe --expression-set MANIFEST "
        "fine-tunes them on that image set (emoprep finetune --backbone vggface, with the "
        "train.finetune settings of §3.2.4) and extracts pool5 with the checkpoint; without it "
        "the step is skipped and said so.",
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

PROFILES: dict[Profile, ProfileSpec] = {
    Profile.EMOPREP: ProfileSpec(1, "emoprep's own method: the defaults, nothing changed"),
    Profile.THESIS_SASE_FE: _SASE_FE,
    Profile.THESIS_BU4DFE: _BU4DFE,
    Profile.THESIS_AFFECTNET: AFFECTNET,
    Profile.THESIS_NVIE: NVIE,
}

#: rule values that stand for a longer value (the METHODS.md tables write the name)
NAMED_VALUES: dict[str, Any] = {"bu4dfe_thesis_split()": bu4dfe_thesis_split}
