"""Shared helpers of the benchmark scripts: machine description and result files."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        mem = "unknown"
    import cv2
    import numpy

    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "python": platform.python_version(),
            "platform": platform.platform(), "opencv": cv2.__version__, "numpy": numpy.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def write_result(name: str, data: dict[str, Any], lines: list[str]) -> Path:
    """Write results/<name>.json (data + machine) and results/<name>.md (human summary)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine(), **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str))
    m = payload["machine"]
    md = [
        f"# {name}",
        "",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, Python {m['python']}, "
        f"OpenCV {m['opencv']} ({m['date']})",
        "",
        *lines,
        "",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(md))
    print("\n".join(md))
    return RESULTS / f"{name}.md"
