"""Start-up: ``emoprep status`` and a no-op ``emoprep run`` on the sample clips' output folder.

    python -m benchmarks.startup [--repeat 7] [--out DIR]

Builds the output folder once (``emoprep run --workers 2`` on the samples, data_manifest.yaml with
its root pointed at them; ``--out`` reuses a folder made that way), then times whole processes:
``emoprep --version``, ``emoprep status`` and ``emoprep run`` with nothing to do, each ``--repeat``
times (median and best, wall and CPU). Bytecode is compiled first, as ``make install`` and a wheel
install do. Also: the heavy libraries each command loads, and import time per top-level package
(``python -X importtime``). Targets (issues 8 and 12): status and the no-op run under 1 s wall.
Writes benchmarks/results/startup.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python benchmarks/x.py): make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pydantic", "yaml", "typer", "cv2", "h5py", "torch", "dask", "sklearn",
         "matplotlib")


def _emoprep() -> str:
    return str(Path(sys.executable).with_name("emoprep"))


def sample_output(out: Path) -> Path:
    """The samples' output folder (made once); returns the manifest that points at the clips."""
    from emoprep.samples import fetch_samples

    root = fetch_samples()
    manifest = out.parent / f"{out.name}.manifest.yaml"
    text = (REPO / "data_manifest.yaml").read_text()
    manifest.write_text(re.sub(r"(?m)^  root: .*$", f"  root: {root}", text, count=1))
    if not (out / "summary.json").is_file():
        res = subprocess.run([_emoprep(), "run", "-m", str(manifest), "-o", str(out),
                              "--workers", "2"], capture_output=True, text=True)
        if res.returncode not in (0, 1):  # 1: no_face.mp4 fails on purpose
            raise RuntimeError(f"emoprep run: exit {res.returncode}\n{res.stderr[-3000:]}")
    return manifest


def timed(args: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, exit code) of one whole process."""
    t0 = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-f", "%U %S", *args], capture_output=True,
                         text=True, cwd=cwd)
    wall = time.perf_counter() - t0
    user, sys_ = (float(x) for x in res.stderr.strip().splitlines()[-1].split())
    return wall, user + sys_, res.returncode


def loaded(args: list[str], cwd: Path) -> list[str]:
    """Which of :data:`HEAVY` the command imports (run in-process in a fresh interpreter)."""
    code = ("import sys\nfrom emoprep.cli.app import app\n"
            f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
            f"print('LOADED=' + ','.join(n for n in {HEAVY!r} if n in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)
    line = [x for x in res.stdout.splitlines() if x.startswith("LOADED=")]
    return line[-1].removeprefix("LOADED=").split(",") if line and line[-1] != "LOADED=" else []


def import_breakdown(cwd: Path) -> dict[str, float]:
    """Milliseconds of import (self time) per top-level package for ``import emoprep.cli.app``."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", "import emoprep.cli.app"],
                         capture_output=True, text=True, cwd=cwd)
    per: dict[str, float] = {}
    for line in res.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        top = parts[2].strip().split(".")[0]
        per[top] = per.get(top, 0.0) + int(parts[0]) / 1000
    top = sorted(per.items(), key=lambda kv: -kv[1])[:10]
    return {k: round(v, 1) for k, v in top}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", type=Path, help="an output folder of the samples (made if missing)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.gettempdir()) / "emoprep-startup" / "out"
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest = sample_output(out)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "emoprep")],
                   capture_output=True, check=True)
    cwd = out.parent  # outside the repository: what a user's shell sees
    commands = {
        "version": ["--version"],
        "status": ["status", "-m", str(manifest), "-o", str(out)],
        "noop_run": ["run", "-m", str(manifest), "-o", str(out)],
    }
    rows = {}
    for name, cmd in commands.items():
        timed([_emoprep(), *cmd], cwd)  # warm the page cache
        runs = [timed([_emoprep(), *cmd], cwd) for _ in range(args.repeat)]
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        rows[name] = {"wall_median_s": round(statistics.median(walls), 3),
                      "wall_best_s": round(min(walls), 3),
                      "cpu_median_s": round(statistics.median(cpus), 3),
                      "exit_codes": sorted({r[2] for r in runs}),
                      "loads": loaded(cmd, cwd)}
    imports = import_breakdown(cwd)
    load = os.getloadavg()[0]
    data = {"rows": rows, "repeat": args.repeat, "import_ms_by_package": imports,
            "load_average": round(load, 2), "pythondontwritebytecode":
            bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))}
    lines = [f"Output folder of the sample clips (5 videos, data_manifest.yaml); each command "
             f"{args.repeat} times as a whole process, bytecode compiled.", "",
             "| command | wall median s | wall best s | CPU median s | exit | heavy libraries "
             "loaded |", "|---|---|---|---|---|---|"]
    lines += [f"| emoprep {' '.join(commands[k][:1])} | {r['wall_median_s']} | {r['wall_best_s']}"
              f" | {r['cpu_median_s']} | {r['exit_codes']} | {', '.join(r['loads'])} |"
              for k, r in rows.items()]
    lines += ["", "Exit 1 on the run: no_face.mp4 has no face and is reported failed on purpose.",
              "", f"Import self time of `import emoprep.cli.app` by package (ms, -X importtime): "
              f"{json.dumps(imports)}", "",
              "Targets: status and the no-op run under 1 s wall (issues 8, 12).",
              f"load average at the end: {load:.1f} on {os.cpu_count()} cores", "",
              "command: python -m benchmarks.startup"]
    write_result("startup", data, lines)


if __name__ == "__main__":
    main()
