"""``inspect`` on a folder whose small items live in packs (``batch.enabled: true``): each
item's outputs are found where its records say (its batch's pack, row ``items[k]`` of its item
table), and an
item that is not small keeps its per-video shards and the dict it always had."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

import emoprep
from emoprep.cli.app import app
from emoprep.pipeline.runner import RunOptions, run
from emoprep.report import inspect_video, render_inspect, render_inspect_json
from tests.helpers import write_manifest

#: name -> (sample clip, first frame, frames): 8 frames are small (batch.max_frames 10), 12 not
CLIPS = {"s01_happy_1.mp4": ("WolfgangLanger_Pexels.mp4", 0, 8),
         "s02_sad_1.mp4": ("WolfgangLanger_Pexels.mp4", 150, 8),
         "s03_happy_1.mp4": ("WolfgangLanger_Pexels.mp4", 300, 12),
         "s04_sad_1.mp4": ("single_face.mp4", 0, 8)}
BATCH = ("batch.enabled=true", "batch.max_frames=10", "batch.items=2")
#: packed item -> its batch (manifest order, two items per batch; s03 is not small)
PACKED = {"s01_happy_1": "b000001", "s02_sad_1": "b000001", "s04_sad_1": "b000002"}
LONG = "s03_happy_1"


@pytest.fixture(scope="module")
def packed_run(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(manifest, output folder) of a packed run of CLIPS, with the hog embedder."""
    from emoprep.samples import cut_clip

    base = tmp_path_factory.mktemp("packed_inspect")
    root = base / "videos"
    root.mkdir()
    for name, (src, start, n) in CLIPS.items():
        assert cut_clip(samples_dir / src, root / name, start, n) == n
    manifest = write_manifest(base / "m.yaml", root, {"embed": {"hog": {"type": "hog"}}})
    rep = run(manifest, base / "out", overrides=BATCH, opts=RunOptions(workers=0))
    assert {v["video_id"]: v["status"] for v in rep.videos} == dict.fromkeys(
        [*PACKED, LONG], "ok")
    return manifest, base / "out"


ROW = {"s01_happy_1": 0, "s02_sad_1": 1, "s04_sad_1": 0}  # the packs' tables: sorted ids


def test_packed_items_show_their_pack_and_row(packed_run: tuple[Path, Path]) -> None:
    _, out = packed_run
    store = emoprep.open_store(out)
    for vid, batch in PACKED.items():
        assert not (out / "frames" / f"{vid}.h5").exists()  # nothing to find by path
        info = inspect_video(out, vid)
        assert json.loads(render_inspect_json(info)) == json.loads(json.dumps(info))
        assert info["shards"] == {"frames": f"frames/packs/{batch}.h5",
                                  "au": f"au/packs/{batch}.h5",
                                  "features/hog": f"features/hog/packs/{batch}.h5"}
        assert info["rows"] == dict.fromkeys(info["shards"], f"items[{ROW[vid]}]")
        assert info["batch"] == batch
        for s, rel in info["shards"].items():  # the data is there, at the rows named
            with h5py.File(out / rel, "r") as f:
                row = f["items"][ROW[vid]]
                assert row["video_id"].decode() == vid
                if s == "frames":
                    start, stop = row["frames"]
                    assert np.array_equal(f["data/frames"][start:stop], store.frames(vid))
                if s == "features/hog":
                    start, stop = row["features"]
                    assert np.array_equal(f["data/features"][start:stop],
                                          store.features(vid, "hog"))
        kept = len(store.meta(vid)["frame_index"])  # the window keeps some of the 8 frames
        assert sum(info["status_counts"].values()) == info["n_frames"] == kept > 0
        text = render_inspect(info)
        assert f"batch         {batch} (outputs in its packs)" in text
        pack = out / "frames/packs" / f"{batch}.h5"
        assert f"  frames                  {pack}  row items[{ROW[vid]}]" in text.splitlines()
        assert f"features/hog/packs/{batch}.h5  row items[{ROW[vid]}]" in text


def test_a_per_video_item_beside_them_keeps_its_shards_and_dict(
        packed_run: tuple[Path, Path]) -> None:
    _, out = packed_run
    info = inspect_video(out, LONG)
    assert info["shards"] == {"frames": f"frames/{LONG}.h5", "au": f"au/{LONG}.h5",
                              "features/hog": f"features/hog/{LONG}.h5"}
    assert "batch" not in info and "rows" not in info  # the keys a per-video item always had
    text = render_inspect(info)
    assert "batch " not in text and " row " not in text
    assert f"  frames                  {out / 'frames' / LONG}.h5" in text.splitlines()


def test_an_item_missing_from_its_pack_is_not_shown(packed_run: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    _, out = packed_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    with h5py.File(copy / "features/hog/packs/b000001.h5", "a") as f:
        table = f["items"][()]
        del f["items"]
        f["items"] = table[table["video_id"] != b"s02_sad_1"]
    assert "features/hog" not in inspect_video(copy, "s02_sad_1")["shards"]
    assert inspect_video(copy, "s01_happy_1")["shards"]["features/hog"] == \
        "features/hog/packs/b000001.h5"
    (copy / "features/hog/packs/b000002.h5").unlink()
    assert set(inspect_video(copy, "s04_sad_1")["shards"]) == {"frames", "au"}


def test_the_cli_prints_the_pack_and_row(packed_run: tuple[Path, Path]) -> None:
    manifest, out = packed_run
    runner = CliRunner()
    res = runner.invoke(app, ["inspect", "s04_sad_1", "-m", str(manifest), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert f"{out / 'frames/packs/b000002.h5'}  row items[0]" in res.output
    res = runner.invoke(app, ["inspect", "s04_sad_1", "-m", str(manifest), "-o", str(out),
                              "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["rows"]["au"] == "items[0]"


def test_the_html_report_shows_every_packed_item(packed_run: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    """The report reads through the index files (links into the packs): every item has its
    section and its four figures, none shows as failed or missing."""
    import html
    import re

    import cv2

    from emoprep.report import build_report

    _, out = packed_run
    page = build_report(out, tmp_path / "rep").read_text(encoding="utf-8")
    sections = re.findall(r'<section class="video (\w+)" id="v-[^"]*"><h3>(.*?) <span', page)
    assert sorted(html.unescape(v) for _, v in sections) == sorted([*PACKED, LONG])
    assert "failed" not in {k for k, _ in sections}
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == 4 * len(sections) + 1  # crops, status, AU/trim, face; + the split
    for vid in PACKED:
        image = cv2.imread(str(tmp_path / "rep" / "img" / f"{vid}_crops.png"))
        assert image is not None and image.size > 0
