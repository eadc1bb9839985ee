"""Subject-independent split manifests: held-out test subjects plus k folds of the rest.

Metadata only (manifest videos, subjects, labels): changing split settings touches no video.
Folds come from scikit-learn's GroupKFold / StratifiedGroupKFold, so every subject's videos land
in exactly one fold, and no subject is in both test and train.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.errors import ConfigError
from emoprep.io.atomic import atomic_write_text
from emoprep.pipeline.config import SplitConfig
from emoprep.pipeline.fingerprint import digest
from emoprep.types import VideoEntry

SPLIT_VERSION = 1


def _strata(videos: list[VideoEntry], key: str | None) -> np.ndarray | None:
    if key is None:
        return None
    missing = [v.video_id for v in videos if key not in v.labels]
    if missing:
        raise ConfigError("stages.split", [f"stratify: label {key!r} missing for {len(missing)} videos "
                                           f"(e.g. {missing[0]}); choose a label every video has"])
    return np.array([v.labels[key] for v in videos])


def make_split(videos: list[VideoEntry], cfg: SplitConfig) -> dict[str, Any]:
    """Assign subjects to test and to k validation folds. Returns the split manifest (a dict)."""
    from sklearn.model_selection import GroupKFold, GroupShuffleSplit, StratifiedGroupKFold

    ids = np.array([v.video_id for v in videos])
    groups = np.array([v.subject for v in videos])
    y = _strata(videos, cfg.stratify)
    n_subj = len(set(groups))
    n_test = int(round(cfg.test_fraction * n_subj))
    if n_subj - n_test < cfg.folds:
        raise ConfigError("stages.split", [
            f"{n_subj} subjects: {n_test} held out for test leaves {n_subj - n_test}, fewer than "
            f"folds={cfg.folds}; lower stages.split.folds or stages.split.test_fraction"])
    test_mask = np.zeros(len(ids), bool)
    if n_test > 0:
        gss = GroupShuffleSplit(n_splits=1, test_size=n_test, random_state=cfg.seed)
        _, test_idx = next(gss.split(ids, groups=groups))
        test_mask[test_idx] = True
    rest = np.flatnonzero(~test_mask)
    if y is not None:
        kf = StratifiedGroupKFold(n_splits=cfg.folds, shuffle=True, random_state=cfg.seed)
        splits = kf.split(rest, y[rest], groups[rest])
    else:
        splits = GroupKFold(n_splits=cfg.folds).split(rest, groups=groups[rest])
    folds = []
    for k, (tr, va) in enumerate(splits):
        folds.append({"fold": k, "train": sorted(ids[rest[tr]].tolist()), "val": sorted(ids[rest[va]].tolist()),
                      "val_subjects": sorted(set(groups[rest[va]].tolist()))})
    return {"name": cfg.name, "version": SPLIT_VERSION, "config": cfg.model_dump(mode="json"),
            "test": sorted(ids[test_mask].tolist()), "test_subjects": sorted(set(groups[test_mask].tolist())),
            "folds": folds, "n_subjects": n_subj,
            "label_counts": dict(Counter(y.tolist())) if y is not None else {}}


def split_fingerprint(videos: list[VideoEntry], cfg: SplitConfig) -> str:
    meta = sorted((v.video_id, v.subject, sorted(v.labels.items())) for v in videos)
    return digest({"version": SPLIT_VERSION, "config": cfg.model_dump(mode="json"), "videos": meta})


@dataclass
class SplitPlan:
    """The split as planned when the session opens (before any video work).

    state: "up-to-date" (the file matches), "stale" (inputs changed, or forced) or "missing";
    manifest: the computed split when it must be (re)written, else None.
    """

    name: str
    path: Path
    fingerprint: str
    state: str
    reason: str = ""
    manifest: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "reason": self.reason, "path": str(self.path)}


def _recorded_fingerprint(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def plan_split(videos: list[VideoEntry], cfg: SplitConfig, path: Path, force: bool = False
               ) -> SplitPlan:
    """Decide whether ``path`` must be rewritten; compute (and so validate) it when it must.

    Raises :class:`ConfigError` when the split cannot be made (fewer subjects than folds).
    """
    fp = split_fingerprint(videos, cfg)
    old = _recorded_fingerprint(path) if path.is_file() else None
    if old == fp and not force:
        return SplitPlan(cfg.name, path, fp, "up-to-date")
    reason = ("forced (--force split)" if old == fp else "never written" if not path.is_file()
              else "file unreadable" if old is None else "videos, labels or split settings changed")
    split = make_split(videos, cfg)
    split["fingerprint"] = fp
    return SplitPlan(cfg.name, path, fp, "missing" if not path.is_file() else "stale", reason, split)


def write_split(plan: SplitPlan) -> dict[str, Any]:
    """Write the planned split if it must be. Returns {name, state, path}."""
    if plan.manifest is None:
        return plan.as_dict()
    atomic_write_text(plan.path, json.dumps(plan.manifest, indent=1))
    return {**plan.as_dict(), "state": "written"}
