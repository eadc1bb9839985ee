"""Synthetic sequences with a planted temporal signal, and small fast training settings.

Class = *when* a bump occurs (early / middle / late in the sequence): every sequence holds the
same bump, so the per-frame mean is the same for every class and cannot solve the task.
Authenticity = which of two feature dimensions carries the bump.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoprep.train import Folds, Sequences, TrainConfig

EMOTIONS = ["early", "middle", "late"]
AUTH = ["genuine", "posed"]


def make_sequences(n: int = 120, dim: int = 6, seed: int = 0, per_subject: int = 4) -> Sequences:
    """n sequences of 16..32 steps; noise 0.3, bump of height 3 and width ~2 steps."""
    rng = np.random.default_rng(seed)
    feats, faces, emo, auth = [], [], [], []
    for i in range(n):
        t = int(rng.integers(16, 33))
        e, a = i % 3, (i // 3 + i // 6) % 2  # both classes in every fold
        x = rng.normal(0, 0.3, (t, dim)).astype(np.float32)
        centre = (0.2, 0.5, 0.8)[e] * (t - 1) + rng.uniform(-1, 1)
        x[:, a] += 3 * np.exp(-0.5 * ((np.arange(t) - centre) / 1.2) ** 2)
        feats.append(x)
        faces.append(np.ones(t, bool))
        emo.append(e)
        auth.append(a)
    return Sequences(
        features=feats, face_mask=faces,
        labels={"emotion": np.array(emo, np.int64), "authenticity": np.array(auth, np.int64)},
        classes={"emotion": EMOTIONS, "authenticity": AUTH},
        subjects=np.array([f"s{i // per_subject:03d}" for i in range(n)]),
        video_ids=np.array([f"v{i:04d}" for i in range(n)]))


def subject_folds(seqs: Sequences, k: int = 2, test_subjects: int = 6) -> Folds:
    """Subjects in order: the last ``test_subjects`` held out, the rest in k interleaved folds."""
    subjects = sorted(set(seqs.subjects.tolist()))
    test_s, rest = subjects[-test_subjects:] if test_subjects else [], subjects[
        : len(subjects) - test_subjects]
    test = np.flatnonzero(np.isin(seqs.subjects, test_s))
    folds = []
    for f in range(k):
        val_s = rest[f::k]
        val = np.flatnonzero(np.isin(seqs.subjects, val_s))
        train = np.flatnonzero(np.isin(seqs.subjects, rest) & ~np.isin(seqs.subjects, val_s))
        folds.append((train, val))
    return Folds(name="synthetic", folds=folds, test=test, digest=f"test-split-{k}-{test_subjects}")


def fast_config(**over) -> TrainConfig:
    """Small widths, high learning rate, few epochs: seconds per fold on one thread."""
    base = {"lstm": {"hidden": 24, "input_dropout": 0.0},
            "bilstm": {"hidden": 16, "output_dropout": 0.2},
            "cnn1d": {"filters": [16, 16, 24, 24], "kernels": [3, 3, 3, 3], "dropout": 0.1},
            "optim": {"lr": 0.01, "batch_size": 16, "epochs": 16, "weight_decay": 0.0,
                      "early_stopping": False}, "device": "cpu"}
    for k, v in over.items():
        base[k] = {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return TrainConfig.model_validate(base)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
