"""Built backends, once per process: a detector, landmarker or embedder is made the first time a
worker needs it and reused for every later unit of that worker with the same config and the same
model files.

A unit of a small item (one image) costs a few milliseconds of vision work; building its backends
again for every unit (finding the model file, opening it, building the objects) cost as much as the
work itself. :func:`built` keeps the objects of the last :data:`MAX_BUILT` configs per process,
keyed by the config class, its JSON and the path + sha256 of each model file it declares
(:meth:`~emoprep.stages.backends.BackendConfig.model_files`), so a model file replaced between two
units is loaded again. The sha256 is computed once per (path, size, mtime)
(:func:`emoprep.io.models.file_hash`).

Every backend object is stateless between calls (per-video state lives in the tracker session,
not in the detector or landmarker), so sharing one across units changes no output. Nothing here
is pickled: a dask or process-pool worker builds its own on first use.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from emoprep.io.models import file_hash
from emoprep.stages.backends import BackendConfig

#: configs whose built objects a process keeps (least recently used dropped first)
MAX_BUILT = 16

_built: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


#: (class, config JSON) -> (the model files' (path, size, mtime_ns), the key made with them)
_keys: dict[tuple[str, str, str], tuple[tuple[tuple[str, int, int], ...], tuple[Any, ...]]] = {}


def instance_key(cfg: BackendConfig) -> tuple[Any, ...]:
    """(class name, config JSON, ((model path, sha256), ...)): what decides a reuse.

    Asked once per item of a batch, so a config whose model files kept their size and mtime
    gets its last key back after one ``stat`` per file (no path resolution, no hash lookup)."""
    head = (type(cfg).__module__, type(cfg).__qualname__, cfg.model_dump_json())
    paths = cfg.model_files()
    stats = tuple((str(p), st.st_size, st.st_mtime_ns) for p in paths for st in (p.stat(),))
    known = _keys.get(head)
    if known is not None and known[0] == stats:
        return known[1]
    key = (*head, tuple((str(p), file_hash(p)) for p in paths))
    if len(_keys) >= 4 * MAX_BUILT:
        _keys.clear()
    _keys[head] = (stats, key)
    return key


def built(cfg: BackendConfig) -> Any:
    """``cfg.make()``, built once per process for this config and these model files' content (a
    model file that cannot be read is left to ``make``, which raises the error naming it)."""
    try:
        key = instance_key(cfg)
    except OSError:
        return cfg.make()  # type: ignore[attr-defined]
    if key in _built:
        _built.move_to_end(key)
        return _built[key]
    # each family's base declares make
    obj = cfg.make()  # type: ignore[attr-defined]
    _built[key] = obj
    while len(_built) > MAX_BUILT:
        _built.popitem(last=False)
    return obj


def clear() -> None:
    """Forget every built object of this process (tests; a worker never needs it)."""
    _built.clear()
    _keys.clear()
