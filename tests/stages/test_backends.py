"""The one backend convention (docs/ARCHITECTURE.md, "Backend families"), checked for every family:
a backend is one module of its family's package holding its config class and its implementation,
every such class is in the family's registry, no ``"module:callable"`` strings, the family
packages import no heavy library, and model paths are resolved the same way everywhere."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

import emoprep.stages
from emoprep.errors import ConfigError
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.session import open_session
from emoprep.stages import au, detect, embed, landmarks
from emoprep.stages.backends import BackendConfig
from tests.helpers import write_manifest

#: family package -> (registry, the union built from it, tag key, the method that does the work)
FAMILIES = {
    "detect": (detect.BACKENDS, detect.DetectConfig, "backend", "make"),
    "landmarks": (landmarks.BACKENDS, landmarks.LandmarksConfig, "backend", "make"),
    "au": (au.SOURCES, au.AUConfig, "source", "compute"),
    "embed": (embed.EMBEDDERS, embed.EmbedderConfig, "type", "make"),
}
STAGES_DIR = Path(emoprep.stages.__file__).parent


def family_modules(name: str) -> list[str]:
    """Every module of the family's package (``*_nets`` too: they import torch, which is fine)."""
    pkg = importlib.import_module(f"emoprep.stages.{name}")
    return [f"emoprep.stages.{name}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)]


def defining_class(cls: type, method: str) -> type:
    return next(k for k in cls.__mro__ if method in k.__dict__)


@pytest.mark.parametrize("name", FAMILIES)
def test_each_backend_is_one_module_with_its_implementation(name: str) -> None:
    registry, _, tag_key, method = FAMILIES[name]
    assert registry and len({c.tag_value() for c in registry}) == len(registry)
    for cls in registry:
        module = cls.__module__
        assert module.startswith(f"emoprep.stages.{name}."), f"{cls.__name__} in {module}"
        assert module.rsplit(".", 1)[1] not in ("base", "config"), f"{cls.__name__}: own module"
        assert cls._tag_key == tag_key
        owner = defining_class(cls, method)
        assert owner.__module__ == module, (
            f"{cls.__name__}.{method} is defined in {owner.__module__}, not beside the config in "
            f"{module}")
        assert set(cls.path_keys) <= set(cls.model_fields), f"{cls.__name__}.path_keys"


@pytest.mark.parametrize("name", FAMILIES)
def test_every_backend_class_of_a_family_is_registered(name: str) -> None:
    registry = FAMILIES[name][0]
    found = set()
    for module_name in family_modules(name):
        module = importlib.import_module(module_name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, BackendConfig) and cls.__module__ == module_name
                    and cls._tag_key in cls.model_fields):
                found.add(cls)
    missing = sorted(c.__name__ for c in found - set(registry))
    assert found == set(registry), f"not in the registry: {missing}"


@pytest.mark.parametrize("name", FAMILIES)
def test_the_union_is_built_from_the_registry(name: str) -> None:
    registry, union, tag_key, _ = FAMILIES[name]
    adapter = TypeAdapter(union)
    for cls in registry:
        with pytest.raises(ValidationError) as info:
            adapter.validate_python({tag_key: cls.tag_value(), "no_such_key": 1})
        assert f"unknown key 'no_such_key' for {tag_key} {cls.tag_value()!r}" in str(info.value)


MODULE_CALLABLE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+:[A-Za-z_]\w*$")


def test_no_module_callable_strings_or_import_module_in_stages() -> None:
    found = []
    for path in sorted(STAGES_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and MODULE_CALLABLE.match(node.value):
                found.append(f"{path.name}:{node.lineno} {node.value!r}")
            if isinstance(node, ast.Attribute) and node.attr == "import_module":
                found.append(f"{path.name}:{node.lineno} import_module")
    assert found == []


def test_family_packages_import_no_heavy_library() -> None:
    code = ("import sys\nimport emoprep.stages.detect, emoprep.stages.landmarks, "
            "emoprep.stages.au, emoprep.stages.embed\n"
            "print([m for m in ('torch', 'cv2', 'dlib', 'h5py', 'sklearn') if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert res.stdout.strip() == "[]"


# -- model paths: one mechanism for every family --------------------------------------------------

RELATIVE = {
    "detect": {"backend": "mtcnn", "weights_dir": "w", "fallback": [
        {"backend": "dlib_mmod", "model": "m/mmod.dat"}, "haar"]},
    "landmarks": {"backend": "fan", "model": "m/fan.pt"},
    "au": {"source": "expression", "weights": "~/m/fer.hdf5"},
    "embed": {"ts": {"type": "torchscript", "model": "m/net.ts"},
              "vgg": {"type": "vggface", "weights": "/abs/vgg.pt", "head_weights": "m/h.pt"}},
}


def test_relative_model_paths_of_every_family_are_taken_against_the_manifest(
        tmp_path: Path) -> None:
    stages = StagesConfig.model_validate(RELATIVE).with_model_paths(tmp_path)
    d = stages.detect
    assert d.weights_dir == tmp_path / "w" and d.fallback[0].model == str(tmp_path / "m/mmod.dat")
    assert d.fallback[1].cascade == "haarcascade_frontalface_default.xml"  # a bundled name
    assert stages.landmarks.model == tmp_path / "m/fan.pt"
    assert stages.au.weights == Path.home() / "m/fer.hdf5"
    assert stages.embed["ts"].model == tmp_path / "m/net.ts"
    assert stages.embed["vgg"].model_files() == [Path("/abs/vgg.pt"), tmp_path / "m/h.pt"]
    again = stages.with_model_paths(tmp_path / "elsewhere")
    assert again.model_dump() == stages.model_dump()  # absolute paths stay as they are
    assert StagesConfig().with_model_paths(tmp_path).model_dump() == StagesConfig().model_dump()


def test_a_cascade_next_to_the_manifest_is_found_there(tmp_path: Path) -> None:
    (tmp_path / "mine.xml").write_text("<opencv_storage/>")
    stages = StagesConfig.model_validate({"detect": {"cascade": "mine.xml"}})
    assert stages.with_model_paths(tmp_path).detect.cascade == str(tmp_path / "mine.xml")
    assert stages.with_model_paths(tmp_path / "x").detect.cascade == "mine.xml"


def test_the_session_resolves_model_paths_before_any_work(clip_bank: Path, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "w").mkdir()
    stages = {k: v for k, v in RELATIVE.items() if k != "au"}
    path = write_manifest(folder / "m.yaml", clip_bank, stages)
    with pytest.raises(ConfigError) as info:
        open_session(path, tmp_path / "out")
    assert str(folder / "m" / "net.ts") in str(info.value)  # the missing embedder file, resolved
    raw = yaml.safe_load(path.read_text())
    raw["stages"]["embed"] = {"hog": {"type": "hog"}}
    path.write_text(yaml.safe_dump(raw))
    session = open_session(path, tmp_path / "out")
    assert session.manifest.stages.detect.weights_dir == folder / "w"
    assert session.manifest.stages.landmarks.model == folder / "m" / "fan.pt"
