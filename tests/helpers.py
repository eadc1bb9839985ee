"""Helpers shared by the tests (fixtures live in conftest.py): the small real-clip corpus, a
manifest writer, and a reader of every dataset of an output folder."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import h5py

    from emoprep.io.layout import Layout

T = TypeVar("T")

# --- a small corpus of real clips cut from the samples (built once per session) ------------------

#: (file name, source clip, first frame, frames)
CORPUS = [
    ("s01_happy_1.mp4", "WolfgangLanger_Pexels.mp4", 0, 40),
    ("s02_sad_1.mp4", "WolfgangLanger_Pexels.mp4", 150, 40),
    ("s03_happy_1.mp4", "WolfgangLanger_Pexels.mp4", 300, 40),
    ("s04_sad_1.mp4", "single_face.mp4", 0, 40),
]
EXTRA = [
    ("s05_happy_1.mp4", "WolfgangLanger_Pexels.mp4", 60, 40),
    ("s06_sad_1.mp4", "WolfgangLanger_Pexels.mp4", 210, 40),
    ("s07_happy_1.mp4", "single_face.mp4", 20, 40),
]
CORPUS_LABELS = {
    "pattern": r"(?P<subject>s\d+)_(?P<emotion>[a-z]+)_(?P<take>\d+)\.mp4",
    "subject": "subject",
    "groups": ["emotion"],
}


#: the ``batch:`` section of a test whose subject is the per-video layout (a shard per video)
PER_VIDEO = {"enabled": False}


def write_manifest(
    path: Path, root: Path, stages: dict | None = None, labels: dict | None = None,
    batch: dict | None = None,
) -> Path:
    """Write a manifest for ``root`` (``*.mp4``) with the corpus naming rule.

    The split defaults to 2 folds and no test part (the corpora have 4-7 subjects; the split is
    validated before any work, and 5 folds need more subjects); ``embed`` to none (the tests
    count per-video units; the default embedders, hog and geometry, are tested in
    tests/cli/test_newcomer.py). ``batch`` is the manifest's ``batch:`` section (left out: the
    default, the corpus's 40-frame clips go into packs); :data:`PER_VIDEO` for a test whose
    subject is one file per video."""
    import yaml

    stages = {"split": {"folds": 2, "test_fraction": 0.0}, "embed": {}, **(stages or {})}
    raw = {"videos": {"root": str(root), "include": ["*.mp4", "*.mov"]},
           "labels": labels if labels is not None else CORPUS_LABELS,
           "stages": stages, **({"batch": batch} if batch is not None else {})}
    path.write_text(yaml.safe_dump(raw))
    return path


def store_arrays(out: Path) -> dict[tuple[str, str], object]:
    """Every dataset of every store in an output folder, keyed (store file, dataset path); a
    packed item's rows (schema 2: the index's ``items`` table) under the path its
    ``videos/<id>`` group would give them, so both layouts compare key for key."""
    import h5py

    from emoprep.io.index_items import IndexItems

    found: dict[tuple[str, str], object] = {}

    def walk(g: h5py.Group, prefix: str, index: Path) -> None:
        for key in g:  # g[key] follows the external links into the shards
            obj = g[key]
            if isinstance(obj, h5py.Dataset):
                found[(index.name, prefix + key)] = obj[()]
            else:
                walk(obj, f"{prefix}{key}/", index)

    for index in [out / "frames.h5", *sorted((out / "features").glob("*.h5"))]:
        with h5py.File(index, "r") as f:
            walk(f["videos"], "videos/", index)
            found[(index.name, "table")] = f["table"][()]
            items = IndexItems(f)
            for vid, parts in items.where.items():
                for part in parts:
                    base = f"videos/{vid}/" + (f"{part}/" if part else "")
                    for name in items.datasets(vid, part):
                        found[(index.name, base + name)] = items.rows_of(vid, part, name)[()]
    return found


#: summary.json keys that legitimately differ between two runs that made the same outputs:
#: timings; the output folder's own path; how the run was executed (in-process, processes, dask);
#: what this invocation did (a resumed run does only the rest: ``ran``/``skipped``/``blocked``
#: count units, ``split.state``/``reason`` say whether it wrote the split file). The split file,
#: every record and every output are compared in full instead.
SUMMARY_VOLATILE = ("seconds", "startup_seconds", "work_seconds", "out", "executor", "dashboard",
                    "ran", "skipped", "blocked")
SPLIT_VOLATILE = ("path", "state", "reason")
#: files under .emoprep/ left out: the run lock (a token of whichever run held the folder), the
#: content-hash cache (keyed by the inputs' mtimes; the hashes that matter are in the records'
#: fingerprints) and the manifest the last invocation used (its resolved settings hold this
#: folder's absolute path); the records database is compared record by record (record_rows)
INTERNAL_SKIPPED = (".emoprep/lock", ".emoprep/hashes.json", ".emoprep/manifest.json")
RECORDS_DB = ".emoprep/records.sqlite"


def record_rows(out: Path) -> dict[str, dict]:
    """Every record of an output folder as ``{"<stage>/<video>": record dict}``, without what
    differs between equal runs (durations, the outputs' file times); unreadable ones under
    ``"!<stage folder>/<video>"`` with the reason."""
    from dataclasses import asdict

    from emoprep.io.layout import Layout
    from emoprep.pipeline.records import RecordStore

    store = RecordStore(Layout(out))
    records, problems = store.scan()
    store.close()
    found: dict[str, dict] = {f"!{p.split(':')[0]}": {"why": p} for p in problems}
    for rec in records:
        d = asdict(rec)
        d["status"] = rec.status.value
        d.pop("seconds", None)
        for c in d.get("checksums", {}).values():
            c.pop("mtime_ns", None)
        found[f"{rec.stage}/{rec.video_id}"] = d
    return found


def to_legacy(out: Path) -> int:
    """Turn an output folder's records database into the JSON record files of before it (one per
    unit, as emoprep 0.2 wrote them) and remove the database; returns the number of files."""
    import json
    from dataclasses import asdict

    from emoprep.io.layout import Layout
    from emoprep.pipeline.records import RecordStore

    lay = Layout(out)
    store = RecordStore(lay)
    records, problems = store.scan()
    store.close()
    assert not problems, problems
    for rec in records:
        path = lay.record(rec.stage, rec.video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**asdict(rec), "status": rec.status.value}, indent=1,
                                   sort_keys=True))
    for p in lay.meta_dir.glob("records.sqlite*"):
        p.unlink()
    return len(records)


def n_records(out: Path) -> int:
    """Records committed so far (readable while a run writes them)."""
    import sqlite3

    path = out / RECORDS_DB
    if not path.exists():
        return 0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return int(con.execute("SELECT count(*) FROM records").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0
    finally:
        con.close()


def edit_record(out: Path, stage: str, video_id: str, **changes: object) -> None:
    """Change fields of one record in place (as a run would have written them)."""
    from emoprep.io.layout import Layout
    from emoprep.pipeline.records import RecordStore

    store = RecordStore(Layout(out))
    rec = store.get(stage, video_id)
    assert rec is not None, (stage, video_id)
    store.components(rec)
    for key, value in changes.items():
        setattr(rec, key, value)
    rec.__post_init__()
    store.put(rec)
    store.close()


def drop_record(out: Path, *units: tuple[str, str]) -> None:
    """Delete the records of (stage, video) units: they run again."""
    from emoprep.io.layout import Layout
    from emoprep.pipeline.records import RecordStore

    store = RecordStore(Layout(out))
    for stage, video_id in units:
        store.delete(stage, video_id)
    store.close()


def read_item(out: Path, video_id: str, read: Callable[[Layout], T]) -> T:
    """``read(layout)`` on a layout whose ``io`` reads ``video_id``'s outputs as the engine's stages
    do: from its batch's packs when its records name a batch (small items, the default), else
    from its own files; e.g. ``read_item(out, vid, lambda lay: load_window(lay, vid))``."""
    from emoprep.io.layout import Layout
    from emoprep.io.packs import PackedLayout, PackIO
    from emoprep.pipeline.records import RecordStore

    lay = Layout(out)
    store = RecordStore(lay)
    records, _ = store.scan()
    store.close()
    batch = next((r.summary["batch"] for r in records
                  if r.video_id == video_id and r.summary.get("batch")), None)
    if batch is None:
        return read(lay)
    packs = PackIO(lay, batch)
    try:
        return read(PackedLayout(lay.root, packs))
    finally:
        packs.abort()  # writes nothing; closes the packs it read


def probe_output(out: Path, video_id: str) -> dict:
    """The probe's output of ``video_id`` (the JSON object of its work file, or of its item in
    its batch's probe pack)."""
    from emoprep.pipeline.steps.probe import OUTPUT

    return read_item(out, video_id, lambda lay: lay.io.load_json(OUTPUT, video_id))


def _sha256(p: Path) -> str:
    import hashlib

    return hashlib.sha256(p.read_bytes()).hexdigest()


def _files(out: Path) -> dict[str, Path]:
    """Relative path -> file, every file of an output folder (summary.json and caches apart)."""
    return {p.relative_to(out).as_posix(): p for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).as_posix() not in INTERNAL_SKIPPED
            and not p.relative_to(out).as_posix().startswith(RECORDS_DB)}


def _stable_record(p: Path) -> dict:
    """A record (or an index state) without what differs between equal runs: the unit's
    duration (``seconds``) and the file times (``mtime_ns``) of its checksummed outputs."""
    import json

    rec = json.loads(p.read_text())
    rec.pop("seconds", None)
    rec.pop("mtime_ns", None)
    for c in rec.get("checksums", {}).values():
        c.pop("mtime_ns", None)
    return rec


def _stable_summary(p: Path) -> dict:
    import json

    summary = json.loads(p.read_text())
    for key in SUMMARY_VOLATILE:
        summary.pop(key, None)
    for key in SPLIT_VOLATILE:
        (summary.get("split") or {}).pop(key, None)
    (summary.get("provenance") or {}).get("resolved_manifest", {}).pop("output", None)
    return summary


def _h5_difference(x: Path, y: Path) -> str:
    """Where two HDF5 files differ: the first object, dtype, value or attribute that does."""
    import h5py
    import numpy as np

    def items(path: Path) -> dict[str, tuple]:
        found: dict[str, tuple] = {}
        with h5py.File(path, "r") as f:
            def visit(name: str, obj: object) -> None:
                attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
                if isinstance(obj, h5py.Dataset):
                    found[name] = (str(obj.dtype), obj.shape, obj[()].tobytes(), attrs)
                else:
                    found[name] = ("group", None, None, attrs)
            found["/"] = ("group", None, None, {k: np.asarray(v).tolist()
                                                for k, v in f.attrs.items()})
            f.visititems(visit)
        return found

    a, b = items(x), items(y)
    if sorted(a) != sorted(b):
        return f"objects differ: {sorted(set(a) ^ set(b))[:5]}"
    for name in a:
        for what, u, v in zip(("dtype", "shape", "values", "attributes"), a[name], b[name],
                                  strict=True):
            if u != v and what == "attributes":
                keys = sorted(k for k in set(u) | set(v) if u.get(k) != v.get(k))
                return f"{name}: attributes {keys} differ"
            if u != v:
                return f"{name}: {what} differ" + (f" ({u} vs {v})" if what != "values" else "")
    return "same objects, dtypes, values and attributes; the bytes differ (layout or order)"


def _sources_rows(path: Path) -> list:
    """The summary rows the index check keeps (pipeline/index_check.py), but for durations."""
    return [{k: v for k, v in row.items() if k not in SUMMARY_VOLATILE}
            for row in json.loads(path.read_text())["videos"]]


def assert_same_store(a: Path, b: Path) -> None:
    """Two output folders hold the same results, checked byte for byte.

    Every file (stores and their shards, AU shards, splits/*.json, CSV, the work files under
    .emoprep/work) has the same sha256: two runs of the same input write byte-identical HDF5
    files (no timestamps are stored; measured on two runs in separate folders), so the bytes
    cover every dataset, dtype and attribute (trim range, anomaly, labels, fingerprints). Where
    an HDF5 file differs, the message names the first dataset, dtype or attribute that does.
    Records (:func:`record_rows`) and index states are compared whole but for durations and file
    times; summary.json but for the keys of SUMMARY_VOLATILE and SPLIT_VOLATILE (see there why
    each may differ).
    """
    x, y = _files(a), _files(b)
    assert sorted(x) == sorted(y), f"files differ: {sorted(set(x) ^ set(y))}"
    ra, rb = record_rows(a), record_rows(b)
    assert sorted(ra) == sorted(rb), f"records differ: {sorted(set(ra) ^ set(rb))}"
    for key in ra:
        assert ra[key] == rb[key], key
    for rel in x:
        if rel == "summary.json":
            assert _stable_summary(x[rel]) == _stable_summary(y[rel]), rel
        elif rel == ".emoprep/indexes/sources.json":  # digest and file times: this folder's
            assert _sources_rows(x[rel]) == _sources_rows(y[rel]), rel
        elif rel.startswith(".emoprep/indexes/"):
            assert _stable_record(x[rel]) == _stable_record(y[rel]), rel
        elif _sha256(x[rel]) != _sha256(y[rel]):
            why = _h5_difference(x[rel], y[rel]) if rel.endswith(".h5") else "bytes differ"
            raise AssertionError(f"{rel}: {why}")


class NameHashes:
    """A hash cache for planning without files: the "hash" of a file is its name."""

    def file(self, p: Path) -> str:
        return "sha-" + Path(p).name


class NoRecords:
    """A record store for planning from scratch: no unit has run."""

    def get(self, stage: str, video: str) -> None:
        return None

    def problem(self, stage: str, video: str) -> str:
        return ""

    def plan_rows(self, stage: str) -> None:
        return None  # no database: a plan asks get() per unit


def import_original(package_dir: Path, module: str, skip: tuple[str, ...] = (),
                    absent: tuple[str, ...] = ()) -> object:
    """Import one module of an unpacked original package from its files (e.g. facenet-pytorch's
    ``models.inception_resnet_v1``) without running the package's ``__init__`` (facenet-pytorch's
    imports torchvision, which cannot be imported beside the project's torch).

    Parent packages become empty package modules; the modules named in ``skip`` (helpers the
    tested classes never call) become modules whose every attribute is a function that raises.
    The modules are registered under a private prefix, so the real package name stays free.
    ``absent``: top-level modules that are not installed here (facenet-pytorch's ``requests``,
    used only to download pretrained weights), stood in the same way. Stand-ins are in
    ``sys.modules`` only while the module is imported.
    """
    import importlib.util
    import sys
    import types

    root = package_dir.name
    prefix = f"_original_{root}"
    parts = module.split(".")
    for i in range(len(parts)):
        name = ".".join([prefix, *parts[:i]])
        if name not in sys.modules:
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(package_dir.joinpath(*parts[:i]))]
            sys.modules[name] = pkg

    def left_out(name: str) -> types.ModuleType:
        stand_in = types.ModuleType(name)

        def attr(a: str) -> object:
            if a.startswith("__"):  # module protocol (__file__, __path__, ...): plainly absent
                raise AttributeError(a)

            def refuse(*_a: object, **_k: object) -> None:
                raise AssertionError(f"{name}.{a} was left out of this test")
            return refuse

        stand_in.__getattr__ = attr  # type: ignore[method-assign]
        return stand_in

    stand_ins = {f"{prefix}.{s}": left_out(f"{root}.{s}") for s in skip}
    stand_ins.update({a: left_out(a) for a in absent})
    added = [name for name in stand_ins if name not in sys.modules]
    sys.modules.update({name: stand_ins[name] for name in added})
    try:
        name = f"{prefix}.{module}"
        path = package_dir.joinpath(*parts).with_suffix(".py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    finally:
        for a in added:  # the stand-ins live only while the module is imported
            sys.modules.pop(a, None)
    return mod


def mount_tmpfs(point: Path, size: str, remount: bool = False) -> subprocess.CompletedProcess:
    """``mount -t tmpfs -o size=SIZE`` at ``point`` (``remount`` changes the size of a mounted
    one); needs root."""
    opts = f"remount,size={size}" if remount else f"size={size}"
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
                          capture_output=True, text=True)


def index_item(f: h5py.File, vid: str) -> Any:
    """An item of an open index file whatever its layout: its ``videos/<id>`` group (a per-video
    item), or its rows of the ``items`` table (a packed item) read like that group."""
    from emoprep.io.index_items import IndexItems

    return f[f"videos/{vid}"] if f"videos/{vid}" in f else IndexItems(f).item(vid)


def index_videos(f: h5py.File) -> list[str]:
    """Ids of every item of an open index file, per-video and packed, sorted."""
    from emoprep.io.index_items import IndexItems

    return sorted({*f.get("videos", {}), *IndexItems(f).videos()})
