"""The report rendered by headless Chromium: every image loads, no console message, a screenshot.

Chromium is Debian's ``chromium`` package; the set-up installs it with apt-get when it is absent
and the tests run as root, and skips with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

#: appended to a copy of the page: after load, lists the images that did not decode and every
#: resource error into a <pre id="img-check"> that --dump-dom prints
CHECK_SCRIPT = """<script>
const errs = [];
window.addEventListener('error', e => errs.push(e.target.src || e.message), true);
window.addEventListener('load', () => {
  const im = [...document.images];
  const bad = im.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  const m = document.createElement('pre');
  m.id = 'img-check';
  m.textContent = JSON.stringify({n: im.length, bad: bad, errors: errs});
  document.body.appendChild(m);
});
</script>"""


def _install_chromium() -> str:
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed and the tests do not run as root "
                    "(install it with: apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if res.returncode != 0:
            pytest.skip(f"chromium could not be installed ({' '.join(cmd)} exited "
                        f"{res.returncode}: {res.stderr.strip()[-300:]})")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed chromium but no `chromium` is on PATH")
    return found


@pytest.fixture(scope="module")
def chromium() -> str:
    return shutil.which("chromium") or _install_chromium()


def run_chromium(binary: str, page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [binary, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *extra, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def report(built_report: tuple[Path, dict[str, int]]) -> Path:
    return built_report[0]


def test_every_image_loads_and_no_console_message(chromium: str, report: Path,
                                                  tmp_path: Path) -> None:
    probe = tmp_path / "report" / "_check.html"  # a copy of the folder with the check script
    shutil.copytree(report.parent, probe.parent)
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT
                                                                + "</body>"))
    res = run_chromium(chromium, probe, tmp_path, "--enable-logging=stderr", "--log-level=0",
                       "--virtual-time-budget=10000", "--dump-dom")
    found = re.search(r'<pre id="img-check">(.*?)</pre>', res.stdout)
    assert found, f"no marker in the DOM (chromium exit {res.returncode}): {res.stderr[-1500:]}"
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    n_img = report.read_text(encoding="utf-8").count("<img ")
    assert check == {"n": n_img, "bad": [], "errors": []}
    assert n_img > 10
    console = [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, console


def test_screenshot_shows_the_page(chromium: str, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    res = run_chromium(chromium, report, tmp_path, f"--screenshot={shot}",
                       "--window-size=1200,2000", "--virtual-time-budget=10000")
    assert shot.is_file(), res.stderr[-1500:]
    image = cv2.imread(str(shot))
    assert image.shape[:2] == (2000, 1200)
    # a rendered page, not a blank one: text and figures give many distinct grey levels
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert len(np.unique(grey)) > 50 and grey.std() > 10
    keep = os.environ.get("EMOPREP_KEEP_SCREENSHOT")
    if keep:
        shutil.copy2(shot, keep)
