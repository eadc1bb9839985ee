"""Feature-store costs: per-frame embedder cost on CPU, HDF5 read throughput for training, and one
training epoch over cached features vs recomputing them from the crops.

    python benchmarks/features.py [--threads 1]

Builds a frame store from the sample clips (emoprep run), writes a random-weight
InceptionResnetV1 checkpoint (the real VGGFace2 weights cannot be fetched here: costs, not
accuracy), and writes benchmarks/results/features.{json,md}.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

if __package__ in (None, ""):  # run as a file (python benchmarks/x.py): make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from emoprep.data import SequenceDataset
from emoprep.io.reader import open_store
from emoprep.pipeline.runner import RunOptions, run
from emoprep.samples import fetch_samples
from emoprep.stages.align import transform_points
from emoprep.stages.embed import (
    DlibResnetConfig,
    HogConfig,
    InceptionResnetV1Config,
    LandmarksEmbedConfig,
    embed_frames,
    make_embedder,
)
from emoprep.stages.embed.irv1_nets import InceptionResnetV1
from emoprep.types import FrameStatus

MAX_LEN = 64


def build(tmp: Path) -> tuple[Path, Path]:
    weights = tmp / "irv1_random.pt"
    torch.manual_seed(0)
    torch.save(InceptionResnetV1().state_dict(), weights)
    raw = {
        "videos": {
            "root": str(fetch_samples()),
            "include": ["WolfgangLanger_Pexels.mp4", "single_face.mp4"],
        },
        "labels": {"pattern": r"(?P<video>[^/]+)\.mp4"},
        "stages": {
            "window": {"mode": "all"},
            "split": {"folds": 2, "test_fraction": 0.0},
            "embed": {
                "hog": {"type": "hog"},
                "irv1": {"type": "inception_resnet_v1", "weights": str(weights), "batch_size": 32},
            },
        },
    }
    (tmp / "m.yaml").write_text(yaml.safe_dump(raw))
    run(tmp / "m.yaml", tmp / "out", opts=RunOptions(workers=2))
    return tmp / "out", weights


def per_frame_costs(out: Path, weights: Path) -> dict[str, float]:
    store = open_store(out)
    vid = "WolfgangLanger_Pexels"
    meta = store.meta(vid)
    face = np.flatnonzero(FrameStatus.has_face(meta["status"]))[:64]
    crops = store.frames(vid, face)
    lms = np.stack(
        [
            transform_points(p, m)
            for p, m in zip(meta["landmarks"][face], meta["align_matrix"][face], strict=True)
        ]
    )
    configs = {"hog": (HogConfig(), 64), "landmarks": (LandmarksEmbedConfig(), 64),
               "dlib_resnet": (DlibResnetConfig(), 16),
               "inception_resnet_v1 (random weights, batch 32)": (
                   InceptionResnetV1Config(weights=weights, batch_size=32, device="cpu"), 64)}
    costs = {}
    for name, (cfg, n) in configs.items():
        emb = make_embedder(cfg)
        emb.embed(crops[:2], lms[:2])  # warm-up (model load, first-call allocations)
        t0 = time.perf_counter()
        embed_frames(
            emb, iter(crops[:n]), lms[:n], np.ones(n, bool), getattr(cfg, "batch_size", 64)
        )
        costs[name] = round(1000 * (time.perf_counter() - t0) / n, 3)
    return costs


def read_throughput(out: Path) -> float:
    ds = SequenceDataset(out, features="irv1", max_len=MAX_LEN)
    order = np.random.default_rng(0).permutation(np.repeat(np.arange(len(ds)), 50))
    t0 = time.perf_counter()
    for i in order:
        ds[int(i)]
    return round(len(order) / (time.perf_counter() - t0), 1)


class Head(torch.nn.Module):
    """LSTM(128) over masked sequences -> class logits (the thesis's simplest temporal head)."""

    def __init__(self, dim: int, classes: int = 2) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(dim, 128, batch_first=True)
        self.fc = torch.nn.Linear(128, classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(x)
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return self.fc(pooled)


def epoch_cached(out: Path) -> float:
    ds = SequenceDataset(out, features="irv1", max_len=MAX_LEN)
    head = Head(512)
    opt = torch.optim.Adam(head.parameters())
    t0 = time.perf_counter()
    for i in range(len(ds)):
        it = ds[i]
        x, m = it["x"], it["mask"].float()
        loss = head(x[None], m[None]).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def epoch_recompute(out: Path, weights: Path) -> float:
    """The same epoch, extracting features from the stored crops on the fly (what caching
    avoids)."""
    from emoprep.data import pad_sequence

    store = open_store(out)
    emb = make_embedder(InceptionResnetV1Config(weights=weights, batch_size=32, device="cpu"))
    head = Head(512)
    opt = torch.optim.Adam(head.parameters())
    t0 = time.perf_counter()
    for vid in store.videos():
        mask = FrameStatus.has_face(store.meta(vid)["status"])
        feats = embed_frames(emb, iter(store.frames(vid)), None, mask, 32)
        x, m = pad_sequence(feats, mask, MAX_LEN)
        loss = (
            head(torch.from_numpy(x)[None], torch.from_numpy(m.astype(np.float32))[None])
            .logsumexp(1)
            .mean()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="emoprep-feat-"))
    try:
        out, weights = build(tmp)
        costs = per_frame_costs(out, weights)
        seq_s = read_throughput(out)
        cached, recomputed = epoch_cached(out), epoch_recompute(out, weights)
        n_frames = sum(len(open_store(out).meta(v)["status"]) for v in open_store(out).videos())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        f"torch threads: {args.threads}; crops 160x160 from the frame store of "
        "WolfgangLanger_Pexels.mp4 + "
        f"single_face.mp4 (window: all, {n_frames} frames)",
        "",
        "| embedder | ms per frame |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in costs.items()]
    lines += [
        "",
        f"HDF5 read throughput (SequenceDataset, irv1 512-d, L={MAX_LEN}, random order): {seq_s} "
        "sequences/s",
        "",
        f"one training epoch (LSTM(128) head, {n_frames} frames in 2 sequences): cached features "
        f"{cached:.3f} s vs recomputing InceptionResnetV1 features {recomputed:.2f} s "
        f"({recomputed / cached:.0f}x)",
        "",
        f"command: python benchmarks/features.py --threads {args.threads}",
    ]
    write_result(
        "features",
        {
            "ms_per_frame": costs,
            "sequences_per_s": seq_s,
            "epoch_cached_s": round(cached, 4),
            "epoch_recompute_s": round(recomputed, 3),
            "threads": args.threads,
            "n_frames": n_frames,
        },
        lines,
    )


if __name__ == "__main__":
    main()
