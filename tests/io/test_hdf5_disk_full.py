"""Issue 25, finding 17: a disk that fills up while HDF5 flushes a shard gives a reason that names
the file and says "No space left on device" (not HDF5's "Write through page buffer failed ...").

Runs on a size-limited tmpfs (root only, skipped otherwise). The write runs in a child process:
HDF5 cannot recover from ENOSPC inside a file, and the child may crash when it exits.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = r"""
import os, sys
from pathlib import Path
import numpy as np
from emoprep.errors import DiskFullError
from emoprep.io.hdf5 import ShardWriter
from emoprep.io.store_config import StoreConfig

disk = Path(sys.argv[1])
try:
    with ShardWriter(disk / "v.h5", {"video_id": "v"}, StoreConfig(compression="none")) as w:
        ds = w.stream("frames", (4, 160, 160, 3), np.uint8)
        for i in range(4):  # room for each write when it is made: the rows wait in HDF5's cache
            ds[i] = np.random.default_rng(i).integers(0, 255, (160, 160, 3), dtype=np.uint8)
        st = os.statvfs(disk)
        with open(disk / "filler", "wb") as fh:  # the disk fills up before the file is flushed
            os.posix_fallocate(fh.fileno(), 0, st.f_bavail * st.f_frsize)
except DiskFullError as exc:
    print("REASON", exc, flush=True)
print("LEFT", sorted(os.listdir(disk)), flush=True)
os._exit(0)  # HDF5's half-closed file is not closed again at exit
"""


def test_disk_full_while_a_shard_is_flushed_names_the_file_and_enospc(small_disk: Path) -> None:
    got = subprocess.run([sys.executable, "-c", CHILD, str(small_disk)], capture_output=True,
                         text=True, timeout=120)
    reason = next(line for line in got.stdout.splitlines() if line.startswith("REASON"))
    assert reason.startswith(f"REASON file {small_disk / 'v.h5'}: the file system is full "
                             f"(OSError: [Errno 28] No space left on device)"), got.stdout
    assert "page buffer" not in reason and "time =" not in reason
    assert "LEFT ['filler']" in got.stdout  # nothing partial under the shard's name, no temporary
