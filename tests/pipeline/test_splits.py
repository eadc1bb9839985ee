"""Subject-independent splits: no subject in two places, every video placed once."""

from __future__ import annotations

import pytest

from emoprep.errors import ConfigError
from emoprep.pipeline.config import SplitConfig
from emoprep.pipeline.splits import make_split, split_fingerprint
from emoprep.types import VideoEntry


def _videos(n_subjects: int, per: int = 4) -> list[VideoEntry]:
    emos = ["anger", "happiness"]
    return [VideoEntry(f"s{s:02d}_v{k}", f"/x/s{s}/{k}.mp4", f"s{s:02d}", {"emotion": emos[k % 2]})
            for s in range(n_subjects) for k in range(per)]


@pytest.mark.parametrize("stratify", [None, "emotion"])
def test_subject_independent_folds(stratify: str | None) -> None:
    videos = _videos(12)
    split = make_split(videos, SplitConfig(folds=5, test_fraction=0.2, stratify=stratify))
    subj = {v.video_id: v.subject for v in videos}
    test_subj = {subj[v] for v in split["test"]}
    assert len(test_subj) == 2  # round(0.2 * 12)
    vals = [v for f in split["folds"] for v in f["val"]]
    assert sorted(vals + split["test"]) == sorted(subj)  # every video exactly once
    for f in split["folds"]:
        tr, va = {subj[v] for v in f["train"]}, {subj[v] for v in f["val"]}
        assert not tr & va and not (tr | va) & test_subj
        assert len(f["train"]) + len(f["val"]) == len(videos) - len(split["test"])


def test_too_few_subjects_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="fewer than folds=5"):
        make_split(_videos(5), SplitConfig(folds=5))


def test_fingerprint_ignores_order_but_not_labels() -> None:
    v = _videos(6)
    cfg = SplitConfig(folds=2)
    assert split_fingerprint(v, cfg) == split_fingerprint(list(reversed(v)), cfg)
    changed = [VideoEntry(x.video_id, x.path, x.subject, {"emotion": "fear"}) for x in v]
    assert split_fingerprint(changed, cfg) != split_fingerprint(v, cfg)
