"""Every kind of bad manifest or dataset layout gets one clear error (all problems at once), or
the odd path is listed as unmatched; nothing hangs, nothing grows without bound, no traceback."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml

from emoprep.errors import ConfigError, VideoError
from emoprep.io.video import describe_gaps, folder_frames
from emoprep.pipeline.manifest import discover_videos, load_manifest
from tests.reliability.conftest import cli

#: 9 levels of 9 nested aliases: 9**9 (387 million) strings once expanded
ALIAS_BOMB = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["videos: {root: ., include: ['*.mp4']}"])


def _problems(manifest: Path, *overrides: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        discover_videos(load_manifest(manifest, overrides))
    return exc.value.problems


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def test_alias_bomb_is_refused_before_expanding(tmp_path: Path) -> None:
    manifest = _write(tmp_path / "m.yaml", ALIAS_BOMB)
    tracemalloc.start()
    try:
        problems = _problems(manifest)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # refused before expanding (measured peak: 43 KiB); a mere list of the first 100000 values
    # would be 800 KiB, the whole expansion 387 million strings
    assert peak < 2**19, peak
    assert problems == ["manifest: expected at most 100000 values, got YAML aliases (*name) that "
                        "expand to more, or into themselves (fix: write the values out instead of "
                        "nesting aliases)"]
    proc = cli("status", "-m", str(manifest), timeout=60)
    assert proc.returncode == 2  # a configuration error
    assert "alias" in proc.stderr and "Traceback" not in proc.stderr


def test_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    problems = _problems(_write(tmp_path / "m.yaml", "a: &a [*a]\nvideos: {root: .}\n"))
    assert "into themselves" in problems[0]


def test_non_utf8_manifest_names_the_file_and_byte_offset(tmp_path: Path) -> None:
    manifest = _write(tmp_path / "m.yaml", b"videos:\n  root: caf\xe9\n")
    assert _problems(manifest) == [
        f"manifest {manifest}: expected UTF-8 text, got byte e9 at byte offset 19 (line 2: "
        "b'\\xe9\\n'...) (fix: save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 m.yaml > "
        "fixed_m.yaml)"]


def test_non_utf8_videos_csv_names_the_file_and_byte_offset(tmp_path: Path) -> None:
    _write(tmp_path / "v" / "a.mp4", b"x")
    csv = _write(tmp_path / "list.csv", b"path,subject\na.mp4,J\xfcrgen\n")
    manifest = _write(tmp_path / "m.yaml", "videos: {root: v, csv: list.csv}\n")
    (problem,) = _problems(manifest)
    assert problem.startswith(f"videos.csv {csv}: expected UTF-8 text, got byte fc at byte offset "
                              "20 (line 2: b'\\xfcrge'...)")


def test_utf8_with_byte_order_mark_is_fine(tmp_path: Path) -> None:
    _write(tmp_path / "v" / "a.mp4", b"x")
    manifest = _write(tmp_path / "m.yaml", "\ufeffvideos: {root: v, include: ['*.mp4']}\n")
    assert [v.video_id for v in discover_videos(load_manifest(manifest)).videos] == ["a"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    manifest = _write(tmp_path / "m.yaml", """\
videos:
  root: videos
  fps: -1
  kind: movie
labels:
  pattern: '(?P<subj>s\\d+)_(?P<emotion>[a-z]+)_\\d+\\.mp4'
  subject: subject
  ignore_case: maybe
stages:
  detect: {min_size: abc}
  window: {start: 0.4}
  window: {end: 2}
""")
    keys = [p.split(" ")[0].rstrip(":") for p in _problems(manifest, "stages.trak.x=1")]
    assert sorted(keys) == sorted(["stages.window", "--set", "videos.kind", "videos.fps",
                                   "labels.ignore_case", "stages.detect.min_size",
                                   "stages.window.end", "labels.subject"])


@pytest.mark.parametrize("text, expected", [
    ("videos: [a, b\n", "line 2, column 1: expected valid YAML, got a syntax error"),
    ("", "manifest: expected a mapping with videos:, labels:, stages:, output:, got an empty file"),
    ("- a\n- b\n",
     "manifest: expected a mapping with videos:, labels:, stages:, output:, got a list"),
    ("labels: {}\n", "videos: expected a mapping, got nothing (fix: add videos: under"),
    ("videos: {roots: .}\n", "videos.roots (line 1): unknown key, expected one of root, include"),
    ("videos: {root: ., include: ['/abs/*.mp4']}\n",
     "videos.include (line 1): expected globs relative to videos.root, got '/abs/*.mp4'"),
    ("videos: {root: ., include: ['*.mp4'], csv: l.csv}\n",
     "videos (line 1): expected either include (globs) or csv (a list), got both"),
    ("videos: {root: ., include: ['*']}\nlabels: {pattern: '(?P<a>'}\n",
     "labels.pattern (line 2): expected a valid regular expression"),
    ("videos: {root: ., include: ['*']}\nlabels: {pattern: '(?P<a>.*)', video_id: '{b}'}\n",
     "labels.video_id (line 2): template field {b} is not a group of labels.pattern"),
    ("videos: {root: ./nope, include: ['*']}\n", "videos.root: expected an existing folder"),
    ("videos: {root: ., kind: frames, include: ['*']}\n",
     "videos.fps (line 1): expected frames per second"),
])
def test_each_kind_of_manifest_error_has_a_clear_line(tmp_path: Path, text: str,
                                                      expected: str) -> None:
    problems = _problems(_write(tmp_path / "m.yaml", text))
    assert any(p.startswith(expected) for p in problems), problems
    assert all("(fix: " in p for p in problems), problems


def test_missing_manifest_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a YAML file at .*nope.yaml, got nothing"):
        load_manifest(tmp_path / "nope.yaml")


@pytest.mark.parametrize("video_id", ["../../evil", "a/b", "/etc/passwd", ".hidden", "-rf", ""])
def test_csv_ids_that_would_leave_the_output_folder_are_errors(tmp_path: Path,
                                                               video_id: str) -> None:
    _write(tmp_path / "v" / "a.mp4", b"x")
    _write(tmp_path / "list.csv", f"path,video_id\na.mp4,{video_id}\n")
    manifest = _write(tmp_path / "m.yaml", "videos: {root: v, csv: list.csv}\n")
    if not video_id:  # an empty cell: the id comes from the naming rule
        assert [v.video_id for v in discover_videos(load_manifest(manifest)).videos] == ["a"]
        return
    (problem,) = _problems(manifest)
    assert problem.startswith(f"video id {video_id!r} of a.mp4: expected letters, digits")
    assert "(fix: correct its video_id cell; e.g. " in problem


def test_odd_file_names_get_safe_ids_and_never_block_the_dataset(tmp_path: Path) -> None:
    for name in ("Ärger 1.mp4", "日本 2.mp4", "Straße.mp4", "with space.mp4", "ok.mp4",
                 "sub dir/Übung.mp4"):
        _write(tmp_path / "v" / name, b"x")
    manifest = _write(tmp_path / "m.yaml", "videos: {root: v, include: ['**/*.mp4']}\n")
    found = discover_videos(load_manifest(manifest))
    # an id that is already safe stays as it was (Stra_e): outputs made before keep their names
    assert sorted((v.video_id, Path(v.path).name) for v in found.videos) == [
        ("Arger_1", "Ärger 1.mp4"), ("Stra_e", "Straße.mp4"), ("ok", "ok.mp4"),
        ("sub_dir__bung", "Übung.mp4"), ("u65e5u672c_2", "日本 2.mp4"),
        ("with_space", "with space.mp4")]
    # the template the old error suggested works too
    raw = yaml.safe_load(manifest.read_text())
    raw["labels"] = {"pattern": r"(?:(?P<subject>[^/]+)/)?[^/]+\.mp4",
                     "video_id": "{parent}_{stem}"}
    manifest.write_text(yaml.safe_dump(raw, allow_unicode=True))
    ids = {v.video_id for v in discover_videos(load_manifest(manifest)).videos}
    assert ids == {"Arger_1", "u65e5u672c_2", "Strasse", "with_space", "ok", "sub_dir__bung"}


def test_link_loops_are_listed_as_unmatched(tmp_path: Path) -> None:
    root = tmp_path / "v"
    _write(root / "a.mp4", b"x")
    os.symlink("cyc.mp4", root / "cyc.mp4")
    os.symlink("..", root / "up")  # a folder loop: ** must not walk it forever
    manifest = _write(tmp_path / "m.yaml", "videos: {root: v, include: ['**/*.mp4']}\n")
    found = discover_videos(load_manifest(manifest))
    assert [v.video_id for v in found.videos] == ["a"]
    assert len(found.unmatched) == 1 and found.unmatched[0].startswith(
        "cyc.mp4: cannot be read (Too many levels of symbolic links: a broken symbolic link or a "
        "link loop?)")


def _images(folder: Path, names: list[str]) -> Path:
    import cv2

    folder.mkdir()
    for name in names:
        cv2.imwrite(str(folder / name), np.zeros((4, 4, 3), np.uint8))
    return folder


def test_frame_folder_numbering_comes_from_the_file_names(tmp_path: Path) -> None:
    gap = _images(tmp_path / "gap", ["f_001.png", "f_002.png", "f_004.png", "f_005.png"])
    files, numbers = folder_frames(gap)
    assert numbers.tolist() == [0, 1, 3, 4] and files[2].name == "f_004.png"
    assert describe_gaps(gap, numbers).startswith(f"frame folder {gap}: frames 2 missing")
    unpadded = _images(tmp_path / "unpadded", ["frame_9.png", "frame_10.png", "frame_8.png"])
    files, numbers = folder_frames(unpadded)
    assert [f.name for f in files] == ["frame_8.png", "frame_9.png", "frame_10.png"]
    assert numbers.tolist() == [0, 1, 2]
    plain = _images(tmp_path / "plain", ["b.png", "a.png"])
    assert folder_frames(plain)[1].tolist() == [0, 1]


@pytest.mark.parametrize("names, message", [
    (["a_1.png", "b_1.png"], "carry the same frame number 1"),
    (["f_1.png", "cover.png"], "expected a frame number in every image name, got 'cover.png'"),
])
def test_frame_folder_numbering_that_cannot_be_trusted_fails(tmp_path: Path, names: list[str],
                                                             message: str) -> None:
    with pytest.raises(VideoError, match=message):
        folder_frames(_images(tmp_path / "seq", names))
