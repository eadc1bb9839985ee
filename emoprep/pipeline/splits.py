"""Subject-independent split manifests: held-out test subjects plus k folds of the rest.

Metadata only (manifest videos, subjects, labels): changing split settings touches no video.
Folds come from scikit-learn's GroupKFold / StratifiedGroupKFold, so every subject's videos land
in exactly one fold, and no subject is in both test and train.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, StratifiedGroupKFold

from emoprep.errors import ConfigError
from emoprep.pipeline.config import SplitConfig
from emoprep.pipeline.fingerprint import digest
from emoprep.pipeline.records import atomic_write_text
from emoprep.types import VideoEntry

if TYPE_CHECKING:
    from emoprep.pipeline.runner import Session

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


def update_split(session: Session) -> dict[str, Any]:
    """Write ``splits/<name>.json`` if its inputs changed. Returns {name, state, path|error}."""
    cfg = session.manifest.stages.split
    path = session.layout.split(cfg.name)
    fp = split_fingerprint(session.videos, cfg)
    if path.is_file():
        try:
            if json.loads(path.read_text()).get("fingerprint") == fp:
                return {"name": cfg.name, "state": "up-to-date", "path": str(path)}
        except ValueError:
            pass  # unreadable: rewrite below
    try:
        split = make_split(session.videos, cfg)
    except ConfigError as exc:
        return {"name": cfg.name, "state": "failed", "error": "; ".join(exc.problems)}
    split["fingerprint"] = fp
    atomic_write_text(path, json.dumps(split, indent=1))
    return {"name": cfg.name, "state": "written", "path": str(path)}
