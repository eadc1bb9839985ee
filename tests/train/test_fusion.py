"""Late fusion against a hand-computed case: two runs' saved outputs on one fold, fused by
average, weighted and max, each giving different predictions.

Run A (validation accuracy 0.75) and run B (0.25) score three videos of true classes [0, 1, 0]:

    A: [.60 .40]  [.20 .80]  [.70 .30]        B: [.10 .90]  [.45 .55]  [.20 .80]

weights (accuracy normalised to sum 1): A .75, B .25
average   [.350 .650] [.325 .675] [.450 .550] -> 1 1 1 -> accuracy 1/3
weighted  [.475 .525] [.2625 .7375] [.575 .425] -> 1 1 0 -> accuracy 2/3
max       [.60 .90]   [.45 .80]   [.70 .80]   -> 1 1 1 -> accuracy 1/3
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emoprep.train.config import FusionMethod
from emoprep.train.fusion import combine_probs, fuse
from emoprep.train.units import save_outputs

A = np.array([[0.60, 0.40], [0.20, 0.80], [0.70, 0.30]], np.float32)
B = np.array([[0.10, 0.90], [0.45, 0.55], [0.20, 0.80]], np.float32)
Y = np.array([0, 1, 0])
EXPECTED = {  # method -> (fused scores (3, 2), accuracy)
    "average": ([[0.35, 0.65], [0.325, 0.675], [0.45, 0.55]], 1 / 3),
    "weighted": ([[0.475, 0.525], [0.2625, 0.7375], [0.575, 0.425]], 2 / 3),
    "max": ([[0.60, 0.90], [0.45, 0.80], [0.70, 0.80]], 1 / 3),
}


def _run(root: Path, name: str, probs: np.ndarray, val_accuracy: float) -> Path:
    """A run folder as emoprep.train.fit writes it: metrics.json and one fold's outputs.npz."""
    run = root / name
    (run / "fold0").mkdir(parents=True)
    part = {"index": np.arange(3), "video_ids": ["v0", "v1", "v2"],
            "probs": {"emotion": probs}, "labels": {"emotion": Y}}
    save_outputs(run / "fold0" / "outputs.npz", {"val": part})
    metrics = {"run": name, "split_digest": "d", "classes": {"emotion": ["happy", "sad"]},
               "config": {"task": "emotion"}, "final": None,
               "folds": [{"name": "0", "unit_dir": "fold0"}],
               "summary": {"val": {"emotion/accuracy": {"mean": val_accuracy}}}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


@pytest.mark.parametrize("method", sorted(EXPECTED))
def test_fusion_methods_match_the_hand_computed_case(method: str, tmp_path: Path) -> None:
    runs = [_run(tmp_path, "a", A, 0.75), _run(tmp_path, "b", B, 0.25)]
    m = fuse(runs, method, out_dir=tmp_path / "fused")
    scores, accuracy = EXPECTED[method]
    assert m["weights"]["emotion"] == pytest.approx([0.75, 0.25])
    val = m["folds"][0]["val"]["emotion"]
    assert val["accuracy"] == pytest.approx(accuracy)
    assert m["summary"]["val"]["emotion/accuracy"]["mean"] == pytest.approx(accuracy)
    written = json.loads((tmp_path / "fused" / f"fusion_{method}.json").read_text())
    assert written["folds"][0]["val"]["emotion"]["accuracy"] == pytest.approx(accuracy)
    fused = combine_probs([A, B], FusionMethod(method), np.array([0.75, 0.25]))
    np.testing.assert_allclose(fused, scores, atol=1e-6)
