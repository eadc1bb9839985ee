"""The HTML report built from a real run: content, order, escaping, images, no stage re-run."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import cv2
import pytest

from emoprep.errors import StoreError
from emoprep.report import build_report
from emoprep.report.build import rank_videos
from emoprep.report.rundata import load_run
from emoprep.report.videoview import Problem
from tests.report.conftest import FAILED_ID, LOW_FACE_ID, ODD_ID, ODD_TAKE, snapshot

ALL_IDS = sorted(["s01_happy_1", "s02_sad_1", "s04_sad_1", ODD_ID, FAILED_ID, LOW_FACE_ID])


@pytest.fixture(scope="module")
def built(built_report: tuple[Path, dict[str, int]]) -> tuple[Path, str, dict[str, int]]:
    index, before = built_report
    return index, index.read_text(encoding="utf-8"), before


def section_order(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<section class="video \w+" id="v-[^"]*">'
                                                 r"<h3>(.*?) <span", page)]


def test_default_destination_and_every_video_once(built, report_run: Path) -> None:
    index, page, _ = built
    assert index == report_run / "report" / "index.html"
    assert sorted(section_order(page)) == ALL_IDS


def test_problems_first_with_reasons(built) -> None:
    _, page, _ = built
    order = section_order(page)
    assert order[0] == FAILED_ID and order[1] == LOW_FACE_ID
    problems = page[page.index("<h2>Problems</h2>"):page.index("<h2>Splits</h2>")]
    assert problems.index(FAILED_ID) < problems.index(LOW_FACE_ID)
    assert "no frame of the clip showed a face" in problems
    assert "face in 4 of 85 kept frames" in problems
    failed = page[page.index(f'id="v-{FAILED_ID}"'):]
    assert "failed: track: video s08_sad_1: no frame of the clip showed a face" \
        in failed[:failed.index("</section>")]


def test_summary_stages_statuses_and_split(built) -> None:
    _, page, _ = built
    for stage in ("probe", "window", "track", "au", "frames"):
        assert f"<td>{stage}</td>" in page
    assert "5 ok, 1 failed, 0 pending, 6 in the manifest" in page
    assert "<th>no_face</th>" in page and "<th>tracked</th>" in page
    split = page[page.index("<h2>Splits</h2>"):page.index("<h2>Videos")]
    assert "<td>test</td>" in split and "<td>fold 1</td>" in split
    assert "subjects in more than one part: none" in split


def test_text_is_escaped(built) -> None:
    _, page, _ = built
    assert ODD_TAKE not in page
    assert "take=" + html.escape(ODD_TAKE, quote=True) in page  # the video's facts
    assert html.escape(ODD_TAKE, quote=True) + " 1" in page     # the split table


def test_every_image_exists_and_decodes(built) -> None:
    index, page, _ = built
    srcs = re.findall(r'<img src="([^"]+)"', page)
    per_ok_video = 4  # contact sheet, status timeline, AU/trim curve, first face frame
    assert len(srcs) == per_ok_video * (len(ALL_IDS) - 1) + 1  # + the split chart
    from urllib.parse import unquote

    for src in srcs:
        path = index.parent / unquote(html.unescape(src))
        assert path.is_file(), src
        image = cv2.imread(str(path))
        assert image is not None and image.size > 0, src
    size = sum(p.stat().st_size for p in index.parent.rglob("*") if p.is_file())
    assert size < 8 * 2**20, f"report is {size / 2**20:.1f} MiB"


def test_no_stage_ran_and_nothing_else_written(built, report_run: Path) -> None:
    _, _, before = built
    assert snapshot(report_run) == before


def test_custom_destination_and_stale_images_removed(report_run: Path, tmp_path: Path) -> None:
    dest = tmp_path / "rep"
    (dest / "img").mkdir(parents=True)
    (dest / "img" / "gone_crops.png").write_bytes(b"old")
    index = build_report(report_run, dest)
    assert index == dest / "index.html" and index.is_file()
    assert not (dest / "img" / "gone_crops.png").exists()
    assert not [p for p in dest.rglob(".*")]  # no temporaries


def test_anomalies_rank_between_failed_and_warned(report_run: Path) -> None:
    run = load_run(report_run)
    run.summary["anomalies"] = ["s02_sad_1"]
    views = rank_videos(run, 0.5)
    assert [v.video_id for v in views[:3]] == [FAILED_ID, "s02_sad_1", LOW_FACE_ID]
    assert [v.problem for v in views[:3]] == [Problem.FAILED, Problem.ANOMALY, Problem.WARNING]
    assert all(v.problem is Problem.OK for v in views[3:])
    assert [v.problem for v in rank_videos(run, 0.01)][2] is Problem.OK  # 4/85 passes 0.01
    assert run.min_face_fraction() == 0.5  # the run recorded none: the default
    run.summary["min_face_fraction"] = 0.01
    assert run.min_face_fraction() == 0.01 and run.min_face_fraction(0.7) == 0.7


def test_missing_output_folder(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no frames.h5"):
        build_report(tmp_path)
    assert not (tmp_path / "report").exists()
    assert os.listdir(tmp_path) == []
