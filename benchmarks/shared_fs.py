"""Packs and batches on a shared (network) file system (issue 22, item 6): ``emoprep run
--executor dask`` (a LocalCluster, 2 workers) with its output folder on a mounted network file
system, against the same on local disk.

    python -m benchmarks.shared_fs MOUNT [--local DIR] [--items 2000] [--batch-items 500]
                                         [--clips 6] [--fs-proc sshfs,sshd]

``MOUNT`` is a folder on the shared file system (an NFS mount, sshfs, ...); the script writes
under ``MOUNT/emoprep_shared_fs`` and ``--local`` (default ``/tmp/emoprep_shared_fs``). The
inputs (images, clips) stay on local disk in both cases: only the output folder moves.

The mount used for benchmarks/results/shared_fs.md: this machine's kernel has no NFS client (no
``nfs`` in /proc/filesystems, no modules) and Debian 12 packages no FUSE NFS client (fuse-nfs),
so it is **sshfs** (FUSE, SFTP over SSH to an sshd on 127.0.0.1), as root::

    apt-get install openssh-server sshfs strace
    ssh-keygen -t ed25519 -N '' -f ~/.ssh/id_sfs && cat ~/.ssh/id_sfs.pub >> ~/.ssh/authorized_keys
    ssh-keygen -A; mkdir -p /run/sshd /srv/sshfs_export /mnt/sshfs_out
    printf 'Port 2222\\nListenAddress 127.0.0.1\\nPasswordAuthentication no\\n'\\
'Subsystem sftp internal-sftp\\nUsePAM no\\nPidFile /tmp/sshd_sfs.pid\\n' > /tmp/sshd_sfs.conf
    /usr/sbin/sshd -f /tmp/sshd_sfs.conf
    sshfs -p 2222 -o IdentityFile=~/.ssh/id_sfs,StrictHostKeyChecking=no \\
        root@127.0.0.1:/srv/sshfs_export /mnt/sshfs_out
    python -m benchmarks.shared_fs /mnt/sshfs_out

(sshfs 3.7.3 defaults: fsync is sent to the server (``fsync@openssh.com``), a rename over an
existing file is atomic (``posix-rename@openssh.com``), locks are local to the mounting host.)

What it measures, for the images and the clips, on each file system:

- a clean run, timed (wall; CPU of the process tree, ``RUSAGE_CHILDREN``, and the CPU of the
  file system's own processes, ``--fs-proc``, read from /proc: sshfs and the SFTP server are
  not children of the run); the files in the output folder sampled every 0.5 s (peak, with
  temporaries) and counted at the end with the directories (inodes);
- a no-op re-run and ``emoprep status``, timed;
- on the shared folder only: a run under ``strace -f`` counting, per process, files created
  (``openat``/``creat`` with ``O_CREAT``, ``mkdir``), renames, fsyncs and unlinks under the
  output folder (the first process is the coordinator, the rest the dask nanny and workers);
- a kill -9 of the whole run (its process group: the coordinator and the dask workers) once the
  first pack is in place, a resume, and the result compared with the clean run on the same file
  system (tests/helpers.py:assert_same_store: every file byte for byte, every record).

Results: benchmarks/results/shared_fs.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.strace_counts import traced

REPO = Path(__file__).resolve().parents[1]


# --- pure parts (tests/benchmarks/test_shared_fs.py) --------------------------------------------


def tree_counts(out: Path) -> dict[str, int]:
    """Files, directories (inodes = both) and bytes under ``out``; ``pack_files``: the files
    in a ``packs/`` folder (one per batch and artifact), ``other_files`` the rest."""
    files = dirs = packs = size = 0
    for dirpath, dirnames, filenames in os.walk(out):
        dirs += len(dirnames)
        files += len(filenames)
        if Path(dirpath).name == "packs":
            packs += len(filenames)
        size += sum(os.lstat(os.path.join(dirpath, f)).st_size for f in filenames)
    return {"files": files, "dirs": dirs, "inodes": files + dirs + 1, "bytes": size,
            "pack_files": packs, "other_files": files - packs}


def per_million(pack_files: int, batches: int, other_files: int, dirs: int,
                items_per_batch: int = 4000, items: int = 1_000_000) -> dict[str, int]:
    """Inodes for ``items`` items, extrapolated from a measured run: its pack files per batch
    times the batches ``items`` make at ``items_per_batch``, plus the files and directories
    that do not grow with the batches (index files, records, splits, summary)."""
    n_batches = -(-items // items_per_batch)
    per_batch = pack_files / batches
    files = round(per_batch * n_batches) + other_files
    return {"batches": n_batches, "pack_files_per_batch": round(per_batch, 2), "files": files,
            "inodes": files + dirs + 1}


# --- measuring -----------------------------------------------------------------------------------


def fs_cpu(names: tuple[str, ...]) -> float:
    """CPU seconds (user + system) used so far by every process whose name is in ``names``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:]
        if name in names:
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Sampler(threading.Thread):
    """The peak number of files under a folder while a run writes it (every 0.5 s)."""

    def __init__(self, out: Path) -> None:
        super().__init__(daemon=True)
        self.out, self.peak, self.done = out, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                self.peak = max(self.peak, sum(len(f) for _, _, f in os.walk(self.out)))
            except OSError:
                pass


def emoprep(*args: str) -> list[str]:
    return [sys.executable, "-m", "emoprep.cli.app", *args]


def timed(cmd: list[str], fs_names: tuple[str, ...], sample: Path | None = None,
          prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """Wall, CPU of the process tree and of the file system's processes, for one command."""
    sampler = Sampler(sample) if sample else None
    if sampler:
        sampler.start()
    before, fs0 = resource.getrusage(resource.RUSAGE_CHILDREN), fs_cpu(fs_names)
    t0 = time.perf_counter()
    proc = subprocess.run([*prefix, *cmd], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0
    after, fs1 = resource.getrusage(resource.RUSAGE_CHILDREN), fs_cpu(fs_names)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "fs_cpu_s": round(fs1 - fs0, 2)}
    if sampler:
        sampler.done.set()
        sampler.join()
        found["peak_files"] = sampler.peak
    return found


def kill_and_resume(cmd: list[str], out: Path) -> dict[str, Any]:
    """Start ``cmd``, SIGKILL its process group once a pack is in place, run it again."""
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    t0 = time.perf_counter()
    while proc.poll() is None and not any(out.glob("*/packs/b*.h5")):
        time.sleep(0.2)
    killed_at = time.perf_counter() - t0
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    left = tree_counts(out)
    temps = [str(p.relative_to(out)) for p in out.rglob(".*.tmp*")]
    resumed = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    return {"killed_after_s": round(killed_at, 2), "finished_before_kill": proc.returncode == 0,
            "files_after_kill": left["files"], "temporaries_after_kill": len(temps),
            "resume_exit": resumed.returncode}


def same(clean: Path, other: Path) -> str:
    sys.path.insert(0, str(REPO))
    from tests.helpers import assert_same_store

    try:
        assert_same_store(clean, other)
    except AssertionError as exc:
        return f"DIFFERENT: {exc}"
    return "equal (every file byte for byte, every record)"


# --- the benchmark -------------------------------------------------------------------------------


def one_fs(name: str, root: Path, inputs: dict[str, tuple[Path, list[str]]],
           fs_names: tuple[str, ...]) -> dict[str, Any]:
    """Clean run, no-op re-run and status of each input set with the output under ``root``."""
    found: dict[str, Any] = {}
    for what, (manifest, sets) in inputs.items():
        out = root / f"{what}_clean"
        shutil.rmtree(out, ignore_errors=True)
        run = emoprep("run", "-m", str(manifest), "-o", str(out), "--executor", "dask",
                      "--workers", "2", "-q", *sets)
        r = {"run": timed(run, fs_names, sample=out), **tree_counts(out),
             "noop_run": timed(run, fs_names),
             "status": timed(emoprep("status", "-m", str(manifest), "-o", str(out), *sets),
                             fs_names)}
        found[what] = r
        print(name, what, r, flush=True)
    return found


def inputs_for(work: Path, items: int, clips: int, batch_items: int
               ) -> dict[str, tuple[Path, list[str]]]:
    from benchmarks.small_clips import clip_manifest, make_clips
    from benchmarks.small_items import make_images, manifest

    found: dict[str, tuple[Path, list[str]]] = {}
    if items:
        csv = make_images(work / "images", items)
        found["images"] = (manifest(work / "images.yaml", csv, "box"),
                           ["--set", "stages.landmarks.backend=none",
                            "--set", f"batch.items={batch_items}"])
    if clips:
        found["clips"] = (clip_manifest(work / "clips.yaml", make_clips(work / "clips", clips)),
                          ["--set", "batch.items=2"])
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mount", type=Path, help="a folder on the shared file system")
    ap.add_argument("--local", type=Path, default=Path("/tmp/emoprep_shared_fs"))
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--batch-items", type=int, default=500,
                    help="batch.items of the image runs (500: 4 batches for 2 workers)")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed runs per file system, local and shared alternating (medians)")
    ap.add_argument("--fs-proc", default="sshfs,sshd",
                    help="names of the file system's processes whose CPU is counted")
    a = ap.parse_args(argv)
    fs_names = tuple(x for x in a.fs_proc.split(",") if x)
    shared = a.mount.resolve() / "emoprep_shared_fs"
    shutil.rmtree(a.local, ignore_errors=True)
    shutil.rmtree(shared, ignore_errors=True)
    shared.mkdir(parents=True)
    inputs = inputs_for(a.local / "inputs", a.items, a.clips, a.batch_items)
    load = [os.getloadavg()]
    result: dict[str, Any] = {"items": a.items, "batch_items": a.batch_items, "clips": a.clips,
                              "mount": str(a.mount), "mount_type": mount_type(a.mount),
                              "repeat": a.repeat}
    runs: dict[str, list[dict[str, Any]]] = {"local": [], "shared": []}
    roots = {"local": a.local / "out", "shared": shared}
    for rep in range(a.repeat):
        for fs in ("local", "shared") if rep % 2 == 0 else ("shared", "local"):
            runs[fs].append(one_fs(fs, roots[fs], inputs, fs_names))
        load.append(os.getloadavg())
    result.update({fs: medians(found) for fs, found in runs.items()})
    manifest, sets = inputs["images"]
    out = shared / "images_traced"
    run = emoprep("run", "-m", str(manifest), "-o", str(out), "--executor", "dask",
                  "--workers", "2", "-q", *sets)
    result["strace"] = traced(run, out, a.local / "strace" / "log")
    print("strace", result["strace"], flush=True)
    for what, (manifest, sets) in inputs.items():
        out = shared / f"{what}_killed"
        run = emoprep("run", "-m", str(manifest), "-o", str(out), "--executor", "dask",
                      "--workers", "2", "-q", *sets)
        k = kill_and_resume(run, out)
        k["compared_with_clean"] = same(shared / f"{what}_clean", out)
        result["shared"][what]["kill9_resume"] = k
        print("kill", what, k, flush=True)
    load.append(os.getloadavg())
    result["load_average"] = [[round(x, 2) for x in la] for la in load]
    from benchmarks.common import write_result

    write_result("shared_fs", result, report(result, a))
    return 0


def medians(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """One file system's repeated runs: the counts of the last, the median of each timing and
    every run's wall and CPU seconds (``*_all``)."""
    found: dict[str, Any] = {}
    for what, last in reps[-1].items():
        found[what] = dict(last)
        for step in ("run", "noop_run", "status"):
            timings = [r[what][step] for r in reps]
            found[what][step] = {k: round(statistics.median(t[k] for t in timings), 2)
                                 for k in last[step]}
            for k in ("wall_s", "cpu_s"):
                found[what][step][k.replace("_s", "_all")] = [t[k] for t in timings]
    return found


def mount_type(path: Path) -> str:
    """The file system type of the mount holding ``path`` (/proc/mounts)."""
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        dev, point, fstype = line.split()[:3]
        if str(path.resolve()).startswith(point) and len(point) > len(best):
            best, kind = point, f"{fstype} ({dev} on {point})"
    return kind


def report(r: dict[str, Any], a: argparse.Namespace) -> list[str]:
    """The markdown lines of benchmarks/results/shared_fs.md."""
    lines = [f"`emoprep run --executor dask --workers 2` (LocalCluster), output folder on local "
             f"disk and on `{r['mount']}`: {r['mount_type']}; inputs on local disk. Images: "
             f"{r['items']} pre-cropped 224x224 JPEGs, box alignment, landmarks none, hog, "
             f"batch.items {r['batch_items']}; clips: {r['clips']} clips of 75 frames, the "
             "default stages, hog, batch.items 2. CPU: the run's process tree (coordinator, "
             "nanny, workers); FS CPU: the file system's own processes (sshfs, the SFTP server).",
             f"Timings: medians of {r['repeat']} runs each, local and shared alternating "
             "(every run's wall in brackets).",
             "", "| output on | input | wall s | CPU s | FS CPU s | files (peak) | dirs | inodes "
             "| MB | no-op run wall s | `status` wall s |", "|---|---|---|---|---|---|---|---|---|"
             "---|---|"]
    for fs in ("local", "shared"):
        for what, x in r[fs].items():
            lines.append(f"| {fs} | {what} | {x['run']['wall_s']} {x['run']['wall_all']} | "
                         f"{x['run']['cpu_s']} | "
                         f"{x['run']['fs_cpu_s']} | {x['files']} ({x['run']['peak_files']}) | "
                         f"{x['dirs']} | {x['inodes']} | {x['bytes'] / 1e6:.1f} | "
                         f"{x['noop_run']['wall_s']} | {x['status']['wall_s']} |")
    img = r["shared"].get("images")
    if img:
        batches = -(-r["items"] // r["batch_items"])
        m = per_million(img["pack_files"], batches, img["other_files"], img["dirs"])
        r["per_million_items"] = m
        s = r["strace"]
        lines += ["", f"Images: {batches} batches, {img['pack_files']} pack files "
                  f"({m['pack_files_per_batch']} per batch), {img['other_files']} other files. "
                  f"Extrapolated (not measured) to 1,000,000 items at the default batch.items "
                  f"4000: {m['batches']} batches, about {m['files']:,} files and {m['inodes']:,} "
                  "inodes (landmarks none: no AU pack; with AUs one more file per batch).",
                  "", f"`strace -ff` of one image run on the shared folder ({batches} batches = "
                  f"{batches} dask tasks): coordinator {s['coordinator']}; the other processes "
                  f"({s['other_processes_writing']} writing: the dask workers) {s['others']}; "
                  f"{s['distinct_paths_created']} distinct paths opened with O_CREAT "
                  "(temporaries included). `create` counts opens with O_CREAT (a file opened "
                  "that way again counts again), `fsync` fsync/fdatasync of a file under the "
                  "output folder."]
    clips = r["shared"].get("clips")
    if clips:
        batches, per_batch = -(-r["clips"] // 2), min(4000, 20000 // 75)
        m = per_million(clips["pack_files"], batches, clips["other_files"], clips["dirs"],
                        items_per_batch=per_batch)
        r["per_million_clips"] = m
        lines += ["", f"Clips: {batches} batches, {clips['pack_files']} pack files "
                  f"({m['pack_files_per_batch']} per batch). Extrapolated (not measured) to "
                  f"1,000,000 clips of 75 frames at the defaults (batch.frames 20000: {per_batch} "
                  f"clips a batch): {m['batches']:,} batches, about {m['files']:,} files and "
                  f"{m['inodes']:,} inodes."]
    lines += ["", "kill -9 of the whole run (process group) on the shared folder once the first "
              "pack was in place, then the same command again:", "",
              "| input | killed after s | files left | temporaries left | resume exit | "
              "against the clean run |", "|---|---|---|---|---|---|"]
    for what, x in r["shared"].items():
        k = x.get("kill9_resume")
        if k:
            lines.append(f"| {what} | {k['killed_after_s']} | {k['files_after_kill']} | "
                         f"{k['temporaries_after_kill']} | {k['resume_exit']} | "
                         f"{k['compared_with_clean']} |")
    la = r["load_average"]
    lines += ["", "load average (1, 5, 15 min) at the start, after each repeat (local and "
              f"shared), at the end: {la} on {os.cpu_count()} cores, shared with other "
              "work: wall times are inflated, compare CPU",
              f"command: python -m benchmarks.shared_fs {r['mount']} --items {a.items} "
              f"--batch-items {a.batch_items} --clips {a.clips} --repeat {a.repeat}"]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
