"""Dataset presets: ready naming rules, video defaults, class lists, ready splits and examples.

Each :class:`Preset` has a :class:`PresetSpec` in :data:`PRESETS`; docs/MANIFEST.md documents them.
Every labelled preset declares the full class list of its labels in a fixed order (``classes``),
so class indices never depend on which videos are present; :data:`BASIC7` is the shared emotion
vocabulary of ``labels.vocabulary: basic7``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

#: a map value: one label, or several labels from one raw text
MapValue = str | dict[str, str]


class Preset(str, Enum):
    """Ready naming rules for public datasets (see docs/MANIFEST.md for layouts and labels)."""

    GENERIC = "generic"  #: any layout; no labels unless a pattern is given
    SASE_FE = "sase-fe"  #: <subject>/<clip>.MP4, clip codes N2H (genuine) / S2N2H (posed) ...
    RAVDESS = "ravdess"  #: 02-01-06-01-02-01-12.mp4, seven 2-digit fields, actor = subject
    CREMA_D = "crema-d"  #: 1001_DFA_ANG_XX.flv, actor_sentence_emotion_level
    BU4DFE = "bu4dfe"  #: F001/Angry/ frame folders
    CK_PLUS = "ck+"  #: cohn-kanade-images/S005/001/ frame folders, Emotion/ label files
    NVIE = "nvie"  #: posed/S101/happiness/apex_front.jpg apex images
    AFFECTNET = "affectnet"  #: 689/<hash>.jpg images, labels from AffectNet's CSV (videos.csv)


class VideoKind(str, Enum):
    """What a matched path is."""

    AUTO = "auto"  #: a file is a video (an image: a one-frame item), a folder an image sequence
    FILE = "file"  #: files only (matched folders are listed as unmatched); an image: one frame
    FRAMES = "frames"  #: image-sequence folders only, read in name order at ``videos.fps``
    #: image files; those the naming rule gives one video id form one image sequence (in the
    #: order of the last number in their names, at ``videos.fps``), a lone image a one-frame item
    IMAGES = "images"


@dataclass(frozen=True)
class PresetSpec:
    """A preset: its ``labels:`` values, its ``videos:`` defaults, and an example for the docs."""

    layout: str
    example: str
    include: tuple[str, ...]
    labels: dict[str, Any] = field(default_factory=dict)
    kind: VideoKind = VideoKind.AUTO
    frames_glob: str = "*.png"
    fps_hint: str = ""
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)  #: ready splits, name -> keys
    #: a ``videos.csv`` in the dataset's own format: its header name -> emoprep's column (``path``,
    #: ``subject``, a label key); its other columns are not read. Empty: emoprep's CSV format.
    csv_columns: dict[str, str] = field(default_factory=dict)
    #: CSV label column -> {code in the cell: label value}; a row whose code is not listed is
    #: unmatched (AffectNet's 8 None, 9 Uncertain, 10 Non-Face are no expression class)
    csv_codes: dict[str, dict[str, str]] = field(default_factory=dict)


def _pairs(*items: str) -> dict[str, str]:
    """``_pairs("01", "neutral", "02", "calm")`` -> {"01": "neutral", "02": "calm"}."""
    return dict(zip(items[::2], items[1::2], strict=True))


def _sase(emotion: str, authenticity: str) -> dict[str, str]:
    return {"emotion": emotion, "authenticity": authenticity}


_SASE_CLIPS: dict[str, MapValue] = {
    "n2a": _sase("anger", "genuine"), "n2c": _sase("contempt", "genuine"),
    "n2d": _sase("disgust", "genuine"), "n2h": _sase("happiness", "genuine"),
    "n2s": _sase("sadness", "genuine"), "n2sur": _sase("surprise", "genuine"),
    "h2n2a": _sase("anger", "posed"), "h2n2c": _sase("contempt", "posed"),
    "h2n2d": _sase("disgust", "posed"), "h2n2s": _sase("sadness", "posed"),
    "d2n2s": _sase("sadness", "posed"), "s2n2h": _sase("happiness", "posed"),
    "d2n2sur": _sase("surprise", "posed"),
}  # fmt: skip

#: the shared emotion vocabulary (FER-2013 order) of ``labels.vocabulary: basic7``
BASIC7 = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")

#: dataset words -> basic7; words not here (calm, contempt) have no basic7 class
BASIC7_WORDS = {
    "anger": "anger", "angry": "anger", "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "happiness": "happiness",
    "happy": "happiness", "sadness": "sadness", "sad": "sadness", "surprise": "surprise",
    "surprised": "surprise", "neutral": "neutral",
}  # fmt: skip


def bu4dfe_thesis_split() -> dict[str, Any]:
    """The video-FER thesis's BU-4DFE protocol as ``stages.split`` keys, as its Fig. 3.6 lists it
    (seeds/003, section "Cross Validation"): subject F016 left out; test subjects F001-F010 and
    M001-M010; five folds of 16 subjects in blocks by sex, ``fold0`` F011-F015 + F017-F027,
    ``fold1`` F028-F043, ``fold2`` F044-F058 + M011, ``fold3`` M012-M027, ``fold4`` M028-M043.
    """

    def ids(sex: str, first: int, last: int) -> list[str]:
        return [f"{sex}{i:03d}" for i in range(first, last + 1)]

    folds = {"fold0": ids("F", 11, 15) + ids("F", 17, 27), "fold1": ids("F", 28, 43),
             "fold2": ids("F", 44, 58) + ids("M", 11, 11), "fold3": ids("M", 12, 27),
             "fold4": ids("M", 28, 43)}
    return {"name": "thesis", "test_subjects": ids("F", 1, 10) + ids("M", 1, 10),
            "fold_subjects": folds, "exclude_subjects": ["F016"]}


#: NVIE's six emotions (002 §4.2), in that order
NVIE_EMOTIONS = ("happiness", "disgust", "fear", "surprise", "sadness", "anger")
#: the words an NVIE emotion folder may carry -> the label (either form, any case)
_NVIE_WORDS = {**{e: e for e in NVIE_EMOTIONS}, "happy": "happiness", "disgusted": "disgust",
               "afraid": "fear", "surprised": "surprise", "sad": "sadness", "angry": "anger"}
#: AffectNet's expression codes (its CSV's ``expression`` column): the eight classes of 004
#: Table 3.1; codes 8-10 (None, Uncertain, Non-Face) are left out as unmatched rows
AFFECTNET_CODES = _pairs("0", "neutral", "1", "happy", "2", "sad", "3", "surprise", "4", "fear",
                         "5", "disgust", "6", "anger", "7", "contempt")

_CREMA_SENTENCES = (
    "ieo",
    "tie",
    "iom",
    "iww",
    "tai",
    "mti",
    "iwl",
    "ith",
    "dfa",
    "its",
    "tsi",
    "wsi",
)

PRESETS: dict[Preset, PresetSpec] = {
    Preset.GENERIC: PresetSpec(
        "any file name; video id from the relative path", "clips/interview_01.mp4",
        ("**/*.mp4", "**/*.mov", "**/*.avi", "**/*.mkv", "**/*.webm"),
    ),
    Preset.SASE_FE: PresetSpec(
        "<subject>/<clip>.MP4, clip one of N2A N2C N2D N2H N2S N2Sur H2N2A H2N2C H2N2D H2N2S "
        "D2N2S S2N2H D2N2Sur (any case)", "12/S2N2H.MP4", ("*/*.[mM][pP]4",),
        {"pattern": r"(?P<subject>[^/]+)/(?P<clip>[a-z0-9]+)\.mp4", "ignore_case": True,
         "maps": {"clip": _SASE_CLIPS}, "groups": ["clip"], "subject": "subject",
         "video_id": "{subject}_{clip}",
         "classes": {"emotion": ["anger", "contempt", "disgust", "happiness", "sadness",
                                 "surprise"], "authenticity": ["genuine", "posed"]}},
    ),
    Preset.RAVDESS: PresetSpec(
        "[...]/MM-CC-EE-II-SS-RR-AA.mp4 (modality 01 or 02, channel, emotion, intensity, "
        "statement, repetition, actor)", "Actor_12/02-01-06-01-02-01-12.mp4", ("**/*.mp4",),
        {"pattern": r"(?:.*/)?(?P<modality>\d\d)-(?P<channel>\d\d)-(?P<emotion>\d\d)"
                    r"-(?P<intensity>\d\d)-(?P<statement>\d\d)-(?P<repetition>\d\d)"
                    r"-(?P<actor>\d\d)\.mp4",
         "ignore_case": True, "subject": "actor", "video_id": "{stem}",
         "maps": {"modality": _pairs("01", "audio-video", "02", "video-only"),
                  "channel": _pairs("01", "speech", "02", "song"),
                  "emotion": _pairs("01", "neutral", "02", "calm", "03", "happy", "04", "sad",
                                    "05", "angry", "06", "fearful", "07", "disgust",
                                    "08", "surprised"),
                  "intensity": _pairs("01", "normal", "02", "strong"),
                  "statement": _pairs("01", "kids", "02", "dogs"),
                  "repetition": _pairs("01", "first", "02", "second")},
         "classes": {"emotion": ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust",
                                 "surprised"]}},
    ),
    Preset.CREMA_D: PresetSpec(
        "[...]/<actor>_<sentence>_<emotion>_<level>.flv (or .mp4)",
        "VideoFlash/1001_DFA_ANG_XX.flv",
        ("**/*.flv", "**/*.mp4"),
        {"pattern": r"(?:.*/)?(?P<actor>\d{4})_(?P<sentence>[a-z]{3})_(?P<emotion>[a-z]{3})"
                    r"_(?P<level>[a-z]{2})\.(?:flv|mp4)",
         "ignore_case": True, "subject": "actor", "video_id": "{stem}",
         "maps": {"sentence": {s: s for s in _CREMA_SENTENCES},
                  "emotion": _pairs("ang", "anger", "dis", "disgust", "fea", "fear", "hap", "happy",
                                    "neu", "neutral", "sad", "sad"),
                  "level": _pairs("lo", "low", "md", "medium", "hi", "high", "xx", "unspecified")},
         "classes": {"emotion": ["anger", "disgust", "fear", "happy", "neutral", "sad"]}},
    ),
    Preset.BU4DFE: PresetSpec(
        "<F|M><3 digits>/<Expression>/ folders of frames (Angry Disgust Fear Happy Sad Surprise)",
        "F001/Angry/000.jpg", ("*/*",),
        {"pattern": r"(?P<subject>(?P<sex>[fm])\d{3})/(?P<emotion>[a-z]+)", "ignore_case": True,
         "groups": ["sex", "emotion"], "subject": "subject", "video_id": "{subject}_{emotion}",
         "maps": {"sex": _pairs("f", "female", "m", "male"),
                  "emotion": _pairs("angry", "angry", "disgust", "disgust", "fear", "fear",
                                    "happy", "happy", "sad", "sad", "surprise", "surprise")},
         "classes": {"emotion": ["angry", "disgust", "fear", "happy", "sad", "surprise"],
                     "sex": ["female", "male"]}},
        VideoKind.FRAMES, "*.jpg", "BU-4DFE was captured at 25 fps: videos.fps: 25",
        {"thesis": bu4dfe_thesis_split()},
    ),
    Preset.CK_PLUS: PresetSpec(
        "cohn-kanade-images/S<3 digits>/<3 digits>/ folders of PNG frames, labels from "
        "Emotion/<subject>/<sequence>/*_emotion.txt",
        "cohn-kanade-images/S005/001/S005_001_00000001.png",
        ("cohn-kanade-images/*/*",),
        {"pattern": r"cohn-kanade-images/(?P<subject>S\d{3})/(?P<sequence>\d{3})", "groups": [],
         "subject": "subject", "video_id": "{subject}_{sequence}",
         "label_file": {"path": "Emotion/{subject}/{sequence}/*_emotion.txt", "key": "emotion",
                        "map": _pairs("0", "neutral", "1", "anger", "2", "contempt", "3", "disgust",
                                      "4", "fear", "5", "happy", "6", "sadness", "7", "surprise")},
         "classes": {"emotion": ["neutral", "anger", "contempt", "disgust", "fear", "happy",
                                 "sadness", "surprise"]}},
        VideoKind.FRAMES, "*.png", "CK+ is usually read at 30 fps: videos.fps: 30",
    ),
    Preset.NVIE: PresetSpec(
        "<posed|spontaneous>/<subject>/<emotion>/<apex image> (emotion happiness disgust fear "
        "surprise sadness anger, or happy, sad, angry, ...; any case); each image one item",
        "posed/S101/happiness/apex_front.jpg",
        ("*/*/*/*.[jJ][pP][gG]", "*/*/*/*.[pP][nN][gG]", "*/*/*/*.[bB][mM][pP]"),
        {"pattern": r"(?P<authenticity>posed|spontaneous)/(?P<subject>[^/]+)/(?P<emotion>[a-z]+)"
                    r"/[^/]+\.(?:jpe?g|png|bmp)",
         "ignore_case": True, "groups": ["authenticity", "emotion"], "subject": "subject",
         "maps": {"emotion": _NVIE_WORDS}, "video_id": "{path}",
         "classes": {"emotion": list(NVIE_EMOTIONS), "authenticity": ["spontaneous", "posed"]}},
        VideoKind.FILE,
    ),
    Preset.AFFECTNET: PresetSpec(
        "<subDirectory>/<image>.jpg under Manually_Annotated_Images, labels from the release's "
        "CSV (videos.csv: training.csv, validation.csv; columns subDirectory_filePath, face_x, "
        "face_y, face_width, face_height, facial_landmarks, expression, valence, arousal)",
        "689/737db2483489148d.jpg", ("*/*.[jJ][pP][gG]", "*/*.[pP][nN][gG]"),
        {"pattern": r"(?:.*/)?[^/]+\.(?:jpe?g|png)", "ignore_case": True, "groups": [],
         "video_id": "{path}", "classes": {"emotion": list(AFFECTNET_CODES.values())}},
        VideoKind.FILE, csv_columns={"subDirectory_filePath": "path", "expression": "emotion"},
        csv_codes={"emotion": AFFECTNET_CODES},
    ),
}  # fmt: skip
