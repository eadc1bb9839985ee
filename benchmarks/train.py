"""Trainer costs: one training epoch per head on CPU for 600 sequences x 100 steps x D.

    .venv/bin/python -m benchmarks.train [--dims 128 512 4096] [--sequences 600]

Default head settings (LSTM 128, BiLSTM 128 per direction, 1D-CNN 32-32-64-64, kernels 3), batch 32,
emotion task with 6 classes, random features; one thread and all threads. An epoch is one shuffled
pass with backward and Adam steps (what ``fit`` does before validating), after one warm-up batch.
Writes benchmarks/results/train.{json,md}. Target: 1D-CNN epoch under 2 s at D = 512.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a file (python benchmarks/x.py): make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from emoprep.train import SequenceData, Sequences, TrainConfig  # noqa: E402
from emoprep.train.loop import Trainer  # noqa: E402

STEPS = 100
TARGET_S = 2.0


def sequences(n: int, dim: int) -> Sequences:
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((STEPS, dim), dtype=np.float32) for _ in range(n)]
    return Sequences(feats, [np.ones(STEPS, bool)] * n,
                     {"emotion": rng.integers(0, 6, n).astype(np.int64)},
                     {"emotion": [f"c{k}" for k in range(6)]},
                     np.array([f"s{i // 10}" for i in range(n)]),
                     np.array([f"v{i}" for i in range(n)]))


def epoch_seconds(seqs: Sequences, head: str, threads: int) -> float:
    torch.set_num_threads(threads)
    trainer = Trainer(seqs, TrainConfig(head=head, device="cpu"), seed=0)
    trainer.set_class_weights(np.arange(len(seqs)))
    trainer.train_epoch(SequenceData(seqs, np.arange(32), ["emotion"]), 0)  # warm-up
    data = SequenceData(seqs, np.arange(len(seqs)), ["emotion"])
    t0 = time.perf_counter()
    trainer.train_epoch(data, 1)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[128, 512, 4096])
    ap.add_argument("--sequences", type=int, default=600)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    rows = []
    for dim in args.dims:
        seqs = sequences(args.sequences, dim)
        for head in ("lstm", "bilstm", "cnn1d"):
            for threads in sorted({1, cores}):
                s = epoch_seconds(seqs, head, threads)
                rows.append({"dim": dim, "head": head, "threads": threads, "epoch_s": round(s, 3),
                             "load_1min": round(os.getloadavg()[0], 2)})
                print(rows[-1], flush=True)
    cnn = {r["threads"]: r["epoch_s"] for r in rows if r["head"] == "cnn1d" and r["dim"] == 512}
    lines = [f"One training epoch, {args.sequences} sequences x {STEPS} steps x D, batch 32, "
             f"torch {torch.__version__} on CPU.", "",
             f"Load average (1 min) at start {load_before:.2f} on {cores} cores: other jobs share "
             "this machine, so all-thread rows can be slower than one thread.", "",
             "| D | head | threads | epoch (s) | load after |", "|---|---|---|---|---|",
             *(f"| {r['dim']} | {r['head']} | {r['threads']} | {r['epoch_s']:.2f} | "
               f"{r['load_1min']:.1f} |" for r in rows),
             "", f"Target 1D-CNN epoch < {TARGET_S} s at D = 512: "
             f"{'met' if cnn and min(cnn.values()) < TARGET_S else 'not met'} (measured "
             f"{'; '.join(f'{t} thread(s): {s:.2f} s' for t, s in cnn.items())})."]
    write_result("train", {"sequences": args.sequences, "steps": STEPS, "torch": torch.__version__,
                           "rows": rows}, lines)


if __name__ == "__main__":
    main()
