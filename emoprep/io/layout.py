"""Where everything lives in an output folder. One place, so no module invents a path.

```
out/
  frames.h5                      index of the frame store (links to the shards)
  frames/<video_id>.h5           frame-store shard: crops + geometry of one video
  au/<video_id>.h5               AU scores and the trim decision of one video
  features/<name>.h5             index of one embedder's feature store
  features/<name>/<video_id>.h5  feature shard (original crops)
  features/<name>/@<aug>/<video_id>.h5   feature shard of an augmented variant
  splits/<split>.json            subject-independent folds
  plots/<video_id>_trim.png      AU-trim plots (--plots / emoprep report)
  summary.json                   summary of the last run
  .emoprep/records/<stage>/<video_id>.json   fingerprint + outcome of each unit
  .emoprep/records.snapshot.json the records as the last run left them (a cache, checked by stat)
  .emoprep/work/<stage>/<video_id>.*         small intermediate results (probe, window, track)
  .emoprep/indexes/<index>.json  digest, size and mtime of each index file as last written
  .emoprep/hashes.json           content-hash cache of raw videos
  .emoprep/lock                  held while a run writes here
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path


def stage_dirname(stage: str) -> str:
    """File-system name of a stage ("embed:hog@flip" -> "embed-hog@flip")."""
    return stage.replace(":", "-")


@dataclass(frozen=True)
class Layout:
    root: Path

    @cached_property
    def meta_dir(self) -> Path:
        return self.root / ".emoprep"

    @cached_property
    def _records(self) -> str:
        return os.path.join(self.meta_dir, "records")

    @property
    def records_dir(self) -> Path:
        """One folder per stage (:func:`stage_dirname`), one record file per video in it."""
        return Path(self._records)

    @property
    def lock(self) -> Path:
        return self.meta_dir / "lock"

    @property
    def hashes(self) -> Path:
        return self.meta_dir / "hashes.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def record_snapshot(self) -> Path:
        return self.meta_dir / "records.snapshot.json"

    def record(self, stage: str, video_id: str) -> Path:
        return Path(self.record_file(stage, video_id))

    def record_file(self, stage: str, video_id: str) -> str:
        """:meth:`record` as a string: a plan reads one record per (stage, video) unit."""
        return f"{self._records}/{stage_dirname(stage)}/{video_id}.json"

    def work(self, stage: str, video_id: str, suffix: str) -> Path:
        return self.meta_dir / "work" / stage_dirname(stage) / f"{video_id}{suffix}"

    @property
    def frames_index(self) -> Path:
        return self.root / "frames.h5"

    def index_stamp(self, index: Path) -> Path:
        """Digest, size and mtime of an index file as last written (pipeline/indexes.py)."""
        name = self.rel(index).replace("/", "-")
        return self.meta_dir / "indexes" / f"{name}.json"

    @cached_property
    def root_str(self) -> str:
        return str(self.root)

    # one Path from a joined string (per-video paths are made for every video by each run)
    def frames_shard(self, video_id: str) -> Path:
        return Path(f"{self.root_str}/frames/{video_id}.h5")

    def au_shard(self, video_id: str) -> Path:
        return Path(f"{self.root_str}/au/{video_id}.h5")

    def features_index(self, name: str) -> Path:
        return self.root / "features" / f"{name}.h5"

    def features_shard(self, name: str, video_id: str, aug: str | None = None) -> Path:
        base = self.root / "features" / name
        return (base / f"@{aug}" if aug else base) / f"{video_id}.h5"

    def split(self, name: str) -> Path:
        return self.root / "splits" / f"{name}.json"

    def plot(self, video_id: str, kind: str = "trim") -> Path:
        return self.root / "plots" / f"{video_id}_{kind}.png"

    def rel(self, path: Path) -> str:
        return str(Path(path).relative_to(self.root))
