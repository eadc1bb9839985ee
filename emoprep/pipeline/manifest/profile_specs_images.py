"""The still-image thesis profiles: AffectNet (004) and NVIE (002); see
:mod:`emoprep.pipeline.manifest.profile_specs` for how a profile is written and
docs/METHODS.md for the tables."""

from __future__ import annotations

from emoprep.pipeline.manifest.profile_rule import NO_SKIP as _NO_SKIP
from emoprep.pipeline.manifest.profile_rule import ProfileSpec
from emoprep.pipeline.manifest.profile_rule import rule as _r

_AUG, _SIX = "train.finetune.augment.", "004 §3.1 (six augmentations)"

AFFECTNET = ProfileSpec(4, "AffectNet thesis (004): eye-based alignment; SGD 1e-3 momentum 0.9, "
                        "batch 35, 10 epochs, class-weighted cross-entropy, six online "
                        "augmentations in fine-tuning", (
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
    _r("the head alone, no linear skip", _NO_SKIP, "train.linear_skip", False),
    _r("flip with a given probability", _SIX, _AUG + "flip", 0.5, "0.5"),
    _r("random brightness", _SIX, _AUG + "brightness", [0.8, 1.2], "a factor in 0.8-1.2"),
    _r("random contrast", _SIX, _AUG + "contrast", [0.8, 1.2], "a factor in 0.8-1.2"),
    _r("rotation by a defined angle", _SIX, _AUG + "rotate", 10.0,
       "uniform within 10 degrees either way"),
    _r("random hue", _SIX, _AUG + "hue", 0.05, "a turn within 5 % of the hue circle"),
    _r("random saturation", _SIX, _AUG + "saturation", [0.8, 1.2], "a factor in 0.8-1.2"),
), (
    "emoprep's default eye line moved to 0.28 S so the jaw stays in the crop (benchmarks/crop.py); "
    "this profile keeps the 0.40 of emoprep 0.1.",
    "004 fine-tunes an ImageNet DenseNet121 (Table 3.1): emoprep experiment thesis-affectnet "
    "runs emoprep finetune --backbone densenet121 on your torchvision-layout file "
    "(train.finetune.weights); emoprep train trains a head on frozen embeddings instead (--head "
    "mlp or linear for still images).",
    "004 augments online with random flip, brightness, contrast, rotation, hue and saturation "
    "(§3.1), with no parameters given: train.finetune.augment applies them in fine-tuning; "
    "emoprep train's augmentations (stages.augment) are fixed offline copies.",
    "004 scores mean class accuracy (§3.5) on a balanced validation set (500 per class), where it "
    "equals the accuracy emoprep reports.",
    "Table 3.1: 57.3 % without and 59.5 % with the alignment (8 classes); 004 drops contempt "
    "for its 7-class results.",
    "Labels: the affectnet preset (labels.preset: affectnet) reads the release's CSV as "
    "videos.csv (expression codes 0-7; rows coded 8-10 are unmatched); its face boxes are not "
    "used: emoprep detects the face.",
))

_AUG_002 = "002 §4.3.2, Fig. 4.4"
_IMGAUG = "002 names the transform, no parameters"

NVIE = ProfileSpec(2, "spontaneous/posed thesis (002): NVIE apex images fed whole at 96 x 96, "
                    "posed vs spontaneous (2 classes; joint: 12), the shallow CNN of Table 4.2 "
                    "from scratch with the final settings (lr 5e-5, batch 64, dropout 0.4, L2, "
                    "augmentation, early stopping), the SVM baseline", (
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
    _r("emoprep train's stand-in for the shallow CNN (heads on embeddings)",
       "002 §4.4.3, Table 4.2", "train.head", "mlp",
       "mlp on frozen embeddings; the CNN itself: emoprep finetune --backbone shallow_cnn"),
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
    _r("the head alone, no linear skip", _NO_SKIP, "train.linear_skip", False),
    _r("online augmentation: flip", _AUG_002, _AUG + "flip", 0.5, "probability 0.5; " + _IMGAUG),
    _r("online augmentation: rotation", _AUG_002, _AUG + "rotate", 10.0,
       "uniform within 10 degrees either way; " + _IMGAUG),
    _r("online augmentation: scaling (and cropping)", _AUG_002, _AUG + "zoom", 0.1,
       "scale 0.9-1.1; " + _IMGAUG),
    _r("online augmentation: translation", _AUG_002, _AUG + "shift", 0.1,
       "up to 10 % of the side; " + _IMGAUG),
    _r("online augmentation: contrast", _AUG_002, _AUG + "contrast", [0.8, 1.2],
       "a factor in 0.8-1.2; " + _IMGAUG),
    _r("online augmentation: colour", _AUG_002, _AUG + "hue", 0.05,
       "a turn within 5 % of the hue circle; " + _IMGAUG),
), (
    "002's shallow CNN (Table 4.2) trains from scratch on the 96 x 96 images: emoprep finetune "
    "--backbone shallow_cnn (no weight file; 3 x 3 convolutions, ReLU and dropout 0.4 before the "
    "last layer chosen where the table is silent, emoprep/train/shallow_cnn.py), with "
    "train.optim and the online train.finetune.augment; emoprep train instead trains the mlp head "
    "on frozen embeddings of the crops.",
    "002's augmentation (§4.3.2) also blurs and adds Gaussian noise: train.finetune.augment has "
    "no such transform (stages.augment's offline copies, for emoprep train, do).",
    "The SVM baseline (002 §4.4.4, Table 4.6: 53.8 %): scikit-learn's SVC with the random "
    "search's result (polynomial kernel, C 0.01, gamma 0.001) on the crops' pixels "
    "(emoprep/train/svm_baseline.py, run by emoprep experiment thesis-nvie); the search over "
    "Table 4.3 is not rerun.",
    "002 stops when the validation loss stops decreasing (§5.1); emoprep's early stopping "
    "watches the validation accuracy.",
    "Experiment 2 (002 §5.2, Table 5.4) is 12 classes, spontaneous/posed x six emotions: "
    "--task joint (emoprep's joint class of emotion x authenticity).",
    "002 describes no split (the SVM confusion tables count 1367 and 1618 test images, §4.4.4); "
    "emoprep splits by subject.",
    "Inception V4 (002 §4.4.2, 67.4 % and 17.3 %) is fine-tuned from ImageNet weights: emoprep "
    "finetune --backbone inception_v4 on your file in timm's layout (train.finetune.weights; "
    "none is shipped), at 299 x 299 (the crops resized; 002 gives no input side for it).",
    "§5.2 says Inception V4 scored 17.2 % on 12 classes and Table 5.4 17.3 % (with the SVM at "
    "17.2 %); the experiment table quotes Table 5.4.",
    "Labels: the nvie preset (labels.preset: nvie), posed/spontaneous folders of apex images "
    "(002 §4.3.1 restructured the spontaneous part by hand; its Fig. 4.3 layout is not in the "
    "text).",
))

