"""The fingerprint rule, whole: canonical JSON, its sha256, a unit's components, the content-hash
cache for raw videos and the words that explain a changed fingerprint.

A fingerprint is ``sha256(canonical_json(components))`` (:func:`digest`; canonical JSON is
``json.dumps`` with sorted keys, no whitespace, ASCII only). A (stage, video) unit's components
(:class:`StageFingerprint`) hold only what changes its output: stage name and code version, its
config slice with defaults filled in, library versions, model-file hashes, its per-video inputs
and upstream fingerprints. Never output paths, worker counts, batch sizes or timestamps. Every
other hash of a setting (the training units, the trainers' split digest, the feature store's
fingerprint for ``emoprep train``) is a :func:`digest` too.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

from emoprep.io.atomic import atomic_write_text, sha256_file
from emoprep.io.video import is_image, list_frame_files
from emoprep.types import SourceKind, VideoEntry


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, ASCII only."""
    text = _plain_json(obj)  # the per-unit parts of a plan: 2-3x faster than json.dumps
    if text is None:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text


#: a string json writes as is: printable ASCII without quote or backslash
_PLAIN = re.compile(r'[ !#-\[\]-~]*').fullmatch


def _plain_json(obj: Any) -> str | None:
    """:func:`canonical_json` of dicts of plain strings, None, bools, ints and finite floats
    (exact types), as json.dumps writes them; None for anything else (lists, escapes, NaN),
    which json writes."""
    t = type(obj)
    if t is str:
        return f'"{obj}"' if _PLAIN(obj) else None
    if obj is None:
        return "null"
    if t is dict:
        parts = []
        for k in sorted(obj) if all(type(k) is str for k in obj) else ():
            v = _plain_json(obj[k]) if _PLAIN(k) else None
            if v is None:
                return None
            parts.append(f'"{k}":{v}')
        return "{" + ",".join(parts) + "}" if len(parts) == len(obj) else None
    if t is bool:
        return "true" if obj else "false"
    if t is float:  # json writes a finite float as its repr (an item's fps: 25.0)
        return repr(obj) if math.isfinite(obj) else None
    return str(obj) if t is int else None


def digest(obj: Any) -> str:
    """sha256 hex digest of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("ascii")).hexdigest()


#: the components of a (stage, video) unit, in canonical (sorted) order
COMPONENTS = ("config", "inputs", "libraries", "models", "stage", "upstream", "version")


class StageFingerprint:
    """The fingerprint of a stage's units: the per-stage components fixed once, the per-video
    ones (``inputs``, ``upstream``) given per unit.

    :meth:`of` is exactly ``digest(self.components(inputs, upstream))``; it joins the canonical
    JSON of the fixed components, built once, with that of the two per-video ones, so a plan over
    50,000 units does not serialise each stage's config again for every video.
    """

    def __init__(self, stage: str, version: int, config: Any, libraries: Any,
                 models: Any) -> None:
        self.fixed = {"stage": stage, "version": version, "config": config,
                      "libraries": libraries, "models": models}
        self._head = '{"config":' + canonical_json(config) + ',"inputs":'
        self._middle = (',"libraries":' + canonical_json(libraries) + ',"models":'
                        + canonical_json(models) + ',"stage":' + canonical_json(stage)
                        + ',"upstream":')
        self._tail = ',"version":' + canonical_json(version) + "}"

    def components(self, inputs: Any, upstream: dict[str, str]) -> dict[str, Any]:
        """``{stage, version, config, libraries, models, inputs, upstream}`` of one unit."""
        return {**self.fixed, "inputs": inputs, "upstream": upstream}

    def of(self, inputs: Any, upstream: dict[str, str]) -> str:
        """sha256 hex of the canonical JSON of :meth:`components` (keys in :data:`COMPONENTS`
        order)."""
        text = (self._head + canonical_json(inputs) + self._middle + canonical_json(upstream)
                + self._tail)
        return hashlib.sha256(text.encode("ascii")).hexdigest()


    def column(self, inputs: list[Any] | None, upstream: list[list[str]],
               names: tuple[str, ...], n: int) -> list[str]:
        """:meth:`of` of ``n`` units at once: ``inputs``, each unit's inputs (None: ``{}`` for
        every unit); ``upstream``, the fingerprints of each upstream stage in ``names``, one per
        unit (what a plan computes for a whole stage: no per-unit dict or call)."""
        ins = ["{}"] * n if inputs is None else [canonical_json(x) for x in inputs]
        ups = _upstream_json(names, upstream, n)
        head, middle, tail, sha = self._head, self._middle, self._tail, hashlib.sha256
        return [sha(f"{head}{i}{middle}{u}{tail}".encode("ascii")).hexdigest()
                for i, u in zip(ins, ups, strict=True)]


def _upstream_json(names: tuple[str, ...], cols: list[list[str]], n: int) -> list[str]:
    """:func:`canonical_json` of ``{name: fingerprint}`` per unit, from one column per name."""
    if not names:
        return ["{}"] * n
    pairs = sorted(zip(names, cols, strict=True))
    if not all(_PLAIN(name) and _PLAIN(col[0] if col else "") for name, col in pairs):
        return [canonical_json(dict(zip(names, t, strict=True))) for t in zip(*cols, strict=True)]
    if len(pairs) == 1:
        head = '{"' + pairs[0][0] + '":"'
        return [head + fp + '"}' for fp in pairs[0][1]]
    keys = [f'"{name}":"' for name, _ in pairs]
    return ["{" + ",".join(k + fp + '"' for k, fp in zip(keys, t, strict=True)) + "}"
            for t in zip(*(col for _, col in pairs), strict=True)]


class HashCache:
    """sha256 of files, remembered by (path, size, mtime_ns) in a JSON file.

    Lives in the coordinator only; workers never see it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._data: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if self.path.is_file():
            try:
                self._data = json.loads(self.path.read_text())
            except (OSError, json.JSONDecodeError):
                self._data = {}  # a damaged cache only costs re-hashing

    def file(self, path: str | Path, st: os.stat_result | None = None) -> str:
        """sha256 of a file (``st``: its stat, when the caller has it)."""
        p = os.path.abspath(path)
        st = st or os.stat(p)
        hit = self._data.get(p)
        if hit and hit["size"] == st.st_size and hit["mtime_ns"] == st.st_mtime_ns:
            return hit["sha256"]
        value = sha256_file(p)
        self._data[p] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": value}
        self._dirty = True
        return value

    def video(self, entry: VideoEntry) -> str:
        """Content hash of a video file, or of a frame folder (names and contents, in order)."""
        if entry.kind is SourceKind.FRAMES and is_image(entry.path):  # one still image
            try:
                st = os.stat(entry.path)
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode):  # one stat, no Path, no glob
                return digest([(os.path.basename(entry.path), self.file(entry.path, st))])
        if entry.kind is SourceKind.FRAMES:
            parts = [
                (f.name, self.file(f)) for f in list_frame_files(entry.path, entry.frames_glob)
            ]
            return digest(parts)
        return self.file(entry.path)

    def save(self) -> None:
        if not self._dirty:
            return
        atomic_write_text(self.path, json.dumps(self._data, sort_keys=True))
        self._dirty = False


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``{"a.b.c": value}`` (lists stay values)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def explain_change(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between two component dicts ("detect.min_size changed 60 ->
    80")."""
    reasons: list[str] = []
    if old.get("version") != new.get("version"):
        reasons.append(f"code version changed {old.get('version')} -> {new.get('version')}")
    for section, label in (("config", ""), ("libraries", "library "), ("models", "model file "),
                           ("inputs", "input ")):
        a, b = flatten(old.get(section, {})), flatten(new.get(section, {}))
        for key in sorted(set(a) | set(b)):
            if key not in a:
                reasons.append(f"{label}{key} added ({_short(b[key])})")
            elif key not in b:
                reasons.append(f"{label}{key} removed")
            elif a[key] != b[key]:
                reasons.append(f"{label}{key} changed {_short(a[key])} -> {_short(b[key])}")
    ua, ub = old.get("upstream", {}), new.get("upstream", {})
    changed = sorted(k for k in set(ua) | set(ub) if ua.get(k) != ub.get(k))
    if changed and not reasons:
        reasons.append(f"upstream {', '.join(changed)} changed")
    return reasons or ["fingerprint differs"]


def _short(value: Any) -> str:
    text = canonical_json(value) if not isinstance(value, str) else value
    return text if len(text) <= 24 else text[:12] + "…"
