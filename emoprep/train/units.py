"""Training units: one per (split fold) and one for the final model, cached by fingerprint.

A unit's fingerprint is ``sha256(canonical_json(components))`` with components: kind, code version,
features fingerprint, split digest, fold (index or ``"final"``), the model-changing slice of the
TrainConfig (no device, threads or ``final_model``; only the active head's sub-settings) and, for
the final model, its epoch count. Its folder ``<root>/units/<fingerprint[:20]>/`` holds
``best.pt`` (state dict), ``epochs.csv``, ``outputs.npz`` (validation/test probabilities) and
``record.json``, written last (after the checkpoint's sha256): a unit without a record, or whose
checkpoint no longer matches, is not done and is trained again.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.io.atomic import sha256_file
from emoprep.pipeline.fingerprint import canonical_json, digest, flatten
from emoprep.train.config import TrainConfig
from emoprep.types import UnitState

#: bump when a change in emoprep.train changes what a unit trains
CODE_VERSION = 1
FINAL = "final"


@dataclass(frozen=True)
class TrainUnit:
    """One trainable unit: its slot (what it is) and fingerprint (what it was trained from).

    Not a pipeline unit (:class:`emoprep.pipeline.dag.Unit`: one stage on one video, planned
    with the DAG, with outputs in the stores): a training unit is one fold of a split, planned by
    :func:`emoprep.train.api.fit`. Both use :class:`~emoprep.types.UnitState` and the one
    fingerprint rule (:func:`~emoprep.pipeline.fingerprint.digest`)."""

    split: str
    fold: int | str
    components: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return digest(self.components)

    @property
    def name(self) -> str:
        m = self.components["model"]
        fold = self.fold if self.fold == FINAL else f"fold{self.fold}"
        return f"train:{m['head']}/{m['task']}/{self.split}/{fold}"

    @property
    def slot(self) -> list[Any]:
        m = self.components["model"]
        return [self.split, m["head"], m["task"], self.fold]

    def folder(self, root: Path) -> Path:
        return Path(root) / "units" / self.fingerprint[:20]


def make_unit(cfg: TrainConfig, split: str, split_digest: str, features: str,
              fold: int | str, epochs: int | None = None) -> TrainUnit:
    """The unit of ``fold`` (an index, or FINAL with its ``epochs``)."""
    comp: dict[str, Any] = {"kind": "train", "code_version": CODE_VERSION, "features": features,
                            "split": split_digest, "fold": fold, "model": cfg.model_slice()}
    if fold == FINAL:
        comp["epochs"] = epochs
    return TrainUnit(split, fold, comp)


def read_record(unit: TrainUnit, root: Path) -> dict[str, Any] | None:
    """The unit's record when the unit is complete and its checkpoint verifies; else None."""
    folder = unit.folder(root)
    try:
        rec = json.loads((folder / "record.json").read_text())
    except (OSError, ValueError):
        return None
    ckpt = folder / "best.pt"
    if rec.get("fingerprint") != unit.fingerprint or not ckpt.is_file() \
            or sha256_file(ckpt) != rec.get("checkpoint_sha256"):
        return None
    return rec


def write_record(unit: TrainUnit, root: Path, rec: dict[str, Any]) -> None:
    """Record (with fingerprint, components, checkpoint hash) written atomically, last."""
    folder = unit.folder(root)
    full = {**rec, "fingerprint": unit.fingerprint, "components": unit.components,
            "slot": unit.slot, "checkpoint_sha256": sha256_file(folder / "best.pt")}
    tmp = folder / "record.json.tmp"
    tmp.write_text(json.dumps(full, indent=1))
    tmp.replace(folder / "record.json")


def state_of(unit: TrainUnit, root: Path) -> tuple[UnitState, str]:
    """(state, reason) of one unit; the reason names the changed settings when stale."""
    if read_record(unit, root) is not None:
        return UnitState.FRESH, ""
    older = _latest_same_slot(unit, root)
    if older is None:
        return UnitState.MISSING, "never trained"
    return UnitState.STALE, changed_keys(older["components"], unit.components)


def _latest_same_slot(unit: TrainUnit, root: Path) -> dict[str, Any] | None:
    best, best_t = None, -1.0
    for path in (Path(root) / "units").glob("*/record.json"):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("slot") == unit.slot and path.stat().st_mtime > best_t:
            best, best_t = rec, path.stat().st_mtime
    return best


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> str:
    """``"model.lstm.hidden changed 128 -> 64; features changed"`` (hashes not spelt out)."""
    a, b = flatten(old), flatten(new)
    parts = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            short = k in ("features", "split") or len(canonical_json(a.get(k))) > 40
            parts.append(f"{k} changed" if short else f"{k} changed {a.get(k)} -> {b.get(k)}")
    return "; ".join(parts) or "checkpoint missing or corrupt"


def save_outputs(path: Path, parts: dict[str, dict[str, Any]]) -> None:
    """``{"val": outputs_for(..), "test": ..}`` -> one .npz (written then renamed)."""
    arrays: dict[str, Any] = {}  # np.savez's keywords: (..) arrays
    for part, out in parts.items():
        if not out:
            continue
        arrays[f"{part}.index"] = out["index"]
        arrays[f"{part}.video_ids"] = np.asarray(out["video_ids"], str)
        for t, p in out["probs"].items():
            arrays[f"{part}.probs.{t}"] = p
            arrays[f"{part}.labels.{t}"] = out["labels"][t]
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_outputs(path: Path) -> dict[str, dict[str, Any]]:
    """Inverse of :func:`save_outputs`."""
    out: dict[str, dict[str, Any]] = {}
    with np.load(path) as z:
        for key in z.files:
            part, rest = key.split(".", 1)
            d = out.setdefault(part, {"probs": {}, "labels": {}})
            if rest.startswith(("probs.", "labels.")):
                kind, t = rest.split(".", 1)
                d[kind][t] = z[key]
            else:
                d[rest] = z[key]
    return out


def write_log(path: Path, rows: list[dict[str, float]]) -> None:
    """Per-epoch rows -> CSV (columns: union of keys, in first-seen order)."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
