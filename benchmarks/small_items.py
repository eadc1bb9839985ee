"""Many small items (issue 22, item 5): pre-cropped 224x224 face images, emoprep against the plain
script doing the same work, whole processes side by side; and CREMA-D-shaped clips.

    python -m benchmarks.small_items [--items 2000] [--align box] [--out DIR]
    python -m benchmarks.small_items --clips 200     (benchmarks/small_clips.py: 75-frame clips)

The images are made from the sample clips' frames: the face box of the Haar cascade on each
frame, widened by a quarter, shifted a few pixels per item (so no two items are equal), cut out
and resized to 224x224, written as JPEG, listed in a ``videos.csv`` with a subject and an emotion.

Three whole processes, each in one process (``--workers 0``), timed by the CPU time the child
used (``resource.getrusage(RUSAGE_CHILDREN)``, user + system) and the wall time:

- ``plain``: the script a user would write (:data:`PLAIN`): read, resize to 160x160, HOG of the
  grey 64x64 resize (the settings of emoprep's hog embedder), one HDF5 file of crops and features;
- ``plain, eyes`` (``--align eyes`` only; ``--skip-eyes-baseline`` leaves it out): the script a
  user would write for the same output as emoprep's eye alignment (:data:`PLAIN_EYES`): dlib's
  68-point pass on the whole image, the eye-aligned warp, then the HOG and file of ``plain``;
  each run's ratio to it is given beside its ratio to ``plain`` (issue 22's table);
- ``emoprep batched``: ``emoprep run`` with ``detect.backend: none`` (the image is the face box),
  ``align.method: box`` (or ``eyes``: the default eye alignment), ``window.mode: all``, one hog
  embedder, ``batch.enabled: true`` (``batch.items`` at its default). With ``--align box`` also
  ``landmarks.backend: none``: no landmark pass, the same work as the plain script (crops and
  HOG; NaN landmarks, no AU stage); ``emoprep batched, dlib68`` is the same with the default
  landmarks (a 68-point pass, head pose and AU per image, as before that backend existed);
- ``emoprep per item``: one unit per stage and item (``batch.enabled: false``), landmarks as in
  ``emoprep batched``; left out with ``--skip-per-item``.

Results: benchmarks/results/small_items.{json,md} (``_eyes`` for eye alignment, ``_<items>``
for another count than 2,000): CPU seconds, per item, ratio to the plain script, files and bytes
in the output folder.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import write_result

REPO = Path(__file__).resolve().parents[1]
SIZE = 224
EMOTIONS = ("happy", "sad", "neutral", "angry")

#: the plain script: what a user writes for the same output (imports nothing of emoprep)
PLAIN = '''
import csv, sys
import cv2, h5py, numpy as np
cv2.setNumThreads(1)
rows = list(csv.DictReader(open(sys.argv[1])))
hog = cv2.HOGDescriptor((64, 64), (16, 16), (8, 8), (8, 8), 9, 1, -1.0,
                        cv2.HOGDescriptor_L2Hys, 0.2, False, 64, False)
with h5py.File(sys.argv[2], "w") as f:
    crops = f.create_dataset("crops", (len(rows), 160, 160, 3), np.uint8, chunks=(1, 160, 160, 3),
                             compression="gzip", compression_opts=1)
    feats = f.create_dataset("features", (len(rows), 1764), np.float32)
    for i, row in enumerate(rows):
        img = cv2.imread(row["path"])
        crop = cv2.cvtColor(cv2.resize(img, (160, 160), interpolation=cv2.INTER_AREA),
                            cv2.COLOR_BGR2RGB)
        grey = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (64, 64),
                          interpolation=cv2.INTER_AREA)
        crops[i] = crop
        feats[i] = hog.compute(grey).ravel()
    f.create_dataset("video_id", data=np.array([r["video_id"] for r in rows], dtype="S"))
    f.create_dataset("emotion", data=np.array([r["emotion"] for r in rows], dtype="S"))
'''


#: the script a user would write for the output of ``--align eyes`` (eye-aligned crops + HOG):
#: dlib's 68-point predictor from face-recognition-models once per image with the whole image as
#: the face box (as emoprep does under ``detect.backend: none``), the eye centres (means of points
#: 37-42 and 43-48), one affine warp that levels the eye line, puts the eyes 0.30 S apart at
#: height 0.28 S (emoprep's defaults, S = 160), then the HOG of :data:`PLAIN`; one HDF5 file
PLAIN_EYES = '''
import csv, math, sys
import cv2, dlib, face_recognition_models, h5py, numpy as np
cv2.setNumThreads(1)
rows = list(csv.DictReader(open(sys.argv[1])))
predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
hog = cv2.HOGDescriptor((64, 64), (16, 16), (8, 8), (8, 8), 9, 1, -1.0,
                        cv2.HOGDescriptor_L2Hys, 0.2, False, 64, False)
S = 160
with h5py.File(sys.argv[2], "w") as f:
    crops = f.create_dataset("crops", (len(rows), S, S, 3), np.uint8, chunks=(1, S, S, 3),
                             compression="gzip", compression_opts=1)
    feats = f.create_dataset("features", (len(rows), 1764), np.float32)
    marks = f.create_dataset("landmarks", (len(rows), 68, 2), np.float32)
    for i, row in enumerate(rows):
        img = cv2.imread(row["path"])
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape
        shape = predictor(grey, dlib.rectangle(0, 0, w - 1, h - 1))
        lm = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
        (lx, ly), (rx, ry) = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
        s = 0.30 * S / math.hypot(rx - lx, ry - ly)
        m = cv2.getRotationMatrix2D(((lx + rx) / 2, (ly + ry) / 2),
                                    math.degrees(math.atan2(ry - ly, rx - lx)), s)
        m[:, 2] += (0.5 * S - (lx + rx) / 2, 0.28 * S - (ly + ry) / 2)
        crop = cv2.warpAffine(img, m, (S, S), flags=cv2.INTER_LINEAR)
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        small = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (64, 64),
                           interpolation=cv2.INTER_AREA)
        crops[i], marks[i] = crop, lm
        feats[i] = hog.compute(small).ravel()
    f.create_dataset("video_id", data=np.array([r["video_id"] for r in rows], dtype="S"))
    f.create_dataset("emotion", data=np.array([r["emotion"] for r in rows], dtype="S"))
'''


def eyes_baseline(root: Path, csv: Path) -> dict[str, Any]:
    """``--align eyes``: the same-output script (:data:`PLAIN_EYES`) timed as a whole process,
    with its files; its result goes beside the plain script's as ``plain, eyes``."""
    script = root / "plain_eyes.py"
    script.write_text(PLAIN_EYES)
    out = root / "plain_eyes"
    out.mkdir()
    return {**timed([sys.executable, str(script), str(csv), str(out / "x.h5")]), **files(out)}


def eyes_ratios(runs: dict[str, dict[str, Any]]) -> list[str]:
    """With ``plain, eyes`` in ``runs``: each run's CPU ratio to it (``cpu_ratio_to_plain_eyes``)
    and the lines that state both baselines; else nothing."""
    if "plain, eyes" not in runs:
        return []
    base = runs["plain, eyes"]["cpu_s"]
    for r in runs.values():
        r["cpu_ratio_to_plain_eyes"] = round(r["cpu_s"] / base, 2)
    lines = ["", "Two baselines: `plain` (read, resize, HOG: issue 22's table, no eye alignment) "
             "and `plain, eyes` (the same output as emoprep's: dlib's 68-point pass on the whole "
             "image, eye-aligned warp, HOG; benchmarks/small_items.py PLAIN_EYES)", "",
             "| run | CPU vs plain | CPU vs plain, eyes |", "|---|---|---|"]
    return lines + [f"| {k} | {r['cpu_ratio_to_plain']} | {r['cpu_ratio_to_plain_eyes']} |"
                    for k, r in runs.items()]


def make_images(root: Path, n: int) -> Path:
    """``n`` 224x224 JPEG faces from the sample clips' frames and their ``videos.csv``."""
    import cv2

    from emoprep.samples import fetch_samples

    root.mkdir(parents=True, exist_ok=True)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    faces = []
    for clip in sorted(fetch_samples().glob("*.mp4")):
        cap = cv2.VideoCapture(str(clip))
        while len(faces) < 400:
            ok, frame = cap.read()
            if not ok:
                break
            grey = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
            found = cascade.detectMultiScale(grey, 1.1, 5, minSize=(60, 60))
            if len(found):
                faces.append((frame, max(found, key=lambda b: b[2] * b[3])))
        cap.release()
    lines = ["path,video_id,subject,emotion"]
    for i in range(n):
        frame, (x, y, w, h) = faces[i % len(faces)]
        m, dx, dy = w // 4, (i * 7) % 9 - 4, (i * 5) % 9 - 4
        x0, y0 = max(0, x - m + dx), max(0, y - m + dy)
        crop = frame[y0:y + h + m + dy, x0:x + w + m + dx]
        name = f"img{i:07d}"
        cv2.imwrite(str(root / f"{name}.jpg"), cv2.resize(crop, (SIZE, SIZE)))
        lines.append(f"{root / name}.jpg,{name},s{i % 20:02d},{EMOTIONS[i % len(EMOTIONS)]}")
    csv = root / "videos.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def manifest(path: Path, csv: Path, align: str) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({
        "videos": {"root": str(csv.parent), "csv": str(csv)},
        "stages": {"window": {"mode": "all"}, "detect": {"backend": "none"},
                   "align": {"method": align}, "embed": {"hog": {"type": "hog"}},
                   "split": {"folds": 2, "test_fraction": 0.0}}}))
    return path


def timed(cmd: list[str]) -> dict[str, float]:
    """CPU seconds (user + system) and wall seconds of one child process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}


def files(out: Path) -> dict[str, int]:
    found = [p for p in out.rglob("*") if p.is_file()]
    return {"files": len(found), "bytes": sum(p.stat().st_size for p in found)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--align", choices=("box", "eyes"), default="box")
    ap.add_argument("--out", type=Path, default=Path("/tmp/emoprep_small_items"))
    ap.add_argument("--skip-per-item", action="store_true", help="leave out the unbatched run")
    ap.add_argument("--skip-eyes-baseline", action="store_true",
                    help="--align eyes: leave out the same-output script (dlib68 + eye warp)")
    ap.add_argument("--clips", type=int, default=0,
                    help="instead: N CREMA-D-shaped 75-frame clips (benchmarks/small_clips.py)")
    a = ap.parse_args(argv)
    if a.clips:
        return clips_main(a.clips, a.out)
    shutil.rmtree(a.out, ignore_errors=True)
    csv = make_images(a.out / "images", a.items)
    m = manifest(a.out / "m.yaml", csv, a.align)
    script = a.out / "plain.py"
    script.write_text(PLAIN)
    runs: dict[str, dict[str, Any]] = {}
    plain_out = a.out / "plain"
    plain_out.mkdir()
    runs["plain"] = {**timed([sys.executable, str(script), str(csv), str(plain_out / "x.h5")]),
                     **files(plain_out)}
    if a.align == "eyes" and not a.skip_eyes_baseline:
        runs["plain, eyes"] = eyes_baseline(a.out, csv)
    cli = [sys.executable, "-m", "emoprep.cli.app", "run", "-m", str(m), "--workers", "0"]
    lean = ("stages.landmarks.backend=none",) if a.align == "box" else ()
    variants = [("emoprep batched", ("batch.enabled=true", *lean))]
    if lean:
        variants.append(("emoprep batched, dlib68", ("batch.enabled=true",)))
    if not a.skip_per_item:
        variants.append(("emoprep per item", ("batch.enabled=false", *lean)))
    for name, sets in variants:
        out = a.out / name.replace(" ", "_").replace(",", "")
        cmd = [*cli, "-o", str(out), *[x for s in sets for x in ("--set", s)]]
        runs[name] = {**timed(cmd), **files(out)}
    base = runs["plain"]["cpu_s"]
    for r in runs.values():
        r["cpu_ms_per_item"] = round(1000 * r["cpu_s"] / a.items, 2)
        r["cpu_ratio_to_plain"] = round(r["cpu_s"] / base, 2)
    lines = [f"{a.items} pre-cropped {SIZE}x{SIZE} JPEG faces, align.method {a.align}, hog, "
             "`--workers 0` (one process each); CPU = user + system of the whole process"
             + ("; `emoprep batched` and `per item` with `landmarks.backend: none` (no landmark "
                "pass), `batched, dlib68` with the default landmarks" if lean else ""),
             "", "| run | CPU s | CPU ms / item | CPU vs plain | wall s | files | MB |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {k} | {r['cpu_s']} | {r['cpu_ms_per_item']} | {r['cpu_ratio_to_plain']} | "
              f"{r['wall_s']} | {r['files']} | {r['bytes'] / 1e6:.1f} |" for k, r in runs.items()]
    lines += eyes_ratios(runs)
    load = os.getloadavg()[0]
    lines += ["", f"files allowed by issue 22 (items / 500 + 50): {a.items // 500 + 50}",
              f"load average when it ended: {load:.1f} on {os.cpu_count()} cores (a shared "
              "machine inflates wall time; CPU time is the figure to compare)",
              f"command: python -m benchmarks.small_items --items {a.items} --align {a.align}"
              + (" --skip-per-item" if a.skip_per_item else "")
              + (" --skip-eyes-baseline" if a.skip_eyes_baseline else "")]
    name = "small_items" + (f"_{a.align}" if a.align != "box" else "") + \
        (f"_{a.items}" if a.items != 2000 else "")
    write_result(name,
                 {"items": a.items, "align": a.align, "runs": runs, "load_average": load}, lines)
    return 0


def clips_main(n: int, root: Path) -> int:
    """``--clips N``: emoprep's CPU against the vision work's on N 75-frame clips, and where the
    difference goes (:func:`benchmarks.small_clips.split`)."""
    from benchmarks.small_clips import CLIP_FRAMES, clip_manifest, make_clips, split

    shutil.rmtree(root, ignore_errors=True)
    csv = make_clips(root / "clips", n)
    m = clip_manifest(root / "m.yaml", csv)
    vision = [sys.executable, "-m", "benchmarks.small_clips", str(m)]
    runs: dict[str, dict[str, Any]] = {"vision work": timed(vision)}
    out = root / "emoprep"
    def cmd(manifest: Path, to: Path) -> list[str]:
        return [sys.executable, "-m", "emoprep.cli.app", "run", "-m", str(manifest),
                "--workers", "0", "-o", str(to), "--set", "batch.enabled=true"]

    runs["emoprep batched"] = {**timed(cmd(m, out)), **files(out)}
    one = clip_manifest(root / "m2.yaml", make_clips(root / "two", 2))  # = the first two
    runs["vision work, 2 clips"] = timed([*vision, "2"])
    runs["emoprep batched, 2 clips"] = timed(cmd(one, root / "e2"))
    data, lines = split(n, runs, out)
    lines.append(f"command: python -m benchmarks.small_items --clips {n}")
    write_result(f"small_clips_{n}", {"clips": n, "frames_per_clip": CLIP_FRAMES, **data}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
