"""OpenFace 2 CSV reader: the real OpenFace_Test.csv, frame mapping, path templates, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emoprep.errors import ConfigError
from emoprep.stages.au import (
    LandmarksAUConfig,
    OpenFaceAUConfig,
    compute_au,
    openface_csv_path,
    source_files,
)
from emoprep.stages.au.openface import OpenFaceCSVError, openface_aus, read_openface_csv
from emoprep.types import FrameStatus, Geometry, VideoEntry

OPENFACE_AUS = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14",
                "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45"]


@pytest.fixture(scope="module")
def real_csv(samples_dir: Path) -> Path:
    return samples_dir / "OpenFace_Test.csv"


def geometry(frame_index: np.ndarray) -> Geometry:
    t = len(frame_index)
    return Geometry(
        frame_index=np.asarray(frame_index, dtype=np.int64), timestamps=np.zeros(t),
        boxes=np.zeros((t, 4), np.float32), landmarks=np.zeros((t, 68, 2), np.float32),
        status=np.full(t, FrameStatus.TRACKED, np.uint8), n_faces=np.ones(t, np.int16),
    )


def small_csv(
    tmp_path: Path, rows: list[str], header: str | None = None, name: str = "v.csv"
) -> Path:
    p = tmp_path / name
    head = (
        header or "frame, face_id, timestamp, confidence, success, AU01_r, AU12_r, AU45_r, AU12_c"
    )
    p.write_text("\n".join([head, *rows]) + "\n")
    return p


# ---------------------------------------------------------------- the real file


def test_real_csv_names_shape_and_values(real_csv: Path):
    t = read_openface_csv(real_csv)
    assert t.names == OPENFACE_AUS  # AUxx_r only; the _c columns (and AU28_c) are not intensities
    assert t.values.shape == (100, 17) and t.values.dtype == np.float32
    np.testing.assert_array_equal(t.frame, np.arange(1, 101))
    assert t.success.all()
    # values read from the file with a text editor
    row1 = dict(zip(t.names, t.values[0], strict=True))
    assert row1["AU01"] == pytest.approx(0.6773) and row1["AU02"] == pytest.approx(0.4275)
    assert row1["AU04"] == pytest.approx(0.2435) and row1["AU23"] == pytest.approx(0.4543)
    assert row1["AU45"] == pytest.approx(0.02348) and row1["AU12"] == 0.0
    assert t.values[1, 0] == pytest.approx(0.5958)  # frame 2 AU01
    assert t.values[34, :3] == pytest.approx([0.4408, 0.7255, 0.7853])  # frame 35
    assert t.values[34, 11] == pytest.approx(0.03166)  # frame 35 AU17
    assert t.values[50, 2] == pytest.approx(0.7945)  # frame 51 AU04
    assert t.confidence[34] == pytest.approx(0.983333)
    assert t.confidence[0] == pytest.approx(0.883333)


def test_frames_map_one_based_to_zero_based(real_csv: Path):
    full = read_openface_csv(real_csv).values
    fi = np.arange(0, 100, 3)
    vals, names = openface_aus(real_csv, fi, OpenFaceAUConfig())
    assert names == OPENFACE_AUS and vals.shape == (34, 17)
    np.testing.assert_array_equal(vals, full[fi])  # source frame i <- OpenFace frame i + 1
    vals, _ = openface_aus(real_csv, np.array([97, 98, 99, 100, 101]), OpenFaceAUConfig())
    assert np.isfinite(vals[:3]).all() and np.isnan(vals[3:]).all()  # beyond the CSV -> NaN
    vals, _ = openface_aus(real_csv, np.array([0, 1]), OpenFaceAUConfig(openface_frame_base=0))
    np.testing.assert_array_equal(vals[1], full[0])  # base 0: OpenFace frame 1 is source frame 1


def test_min_confidence_masks_rows(real_csv: Path):
    vals, _ = openface_aus(real_csv, np.arange(100), OpenFaceAUConfig(min_confidence=0.9))
    finite = np.isfinite(vals).all(axis=1)
    assert np.flatnonzero(finite).tolist() == [34]  # only frame 35 has confidence 0.983333


def test_header_without_leading_spaces_reads_the_same(real_csv: Path, tmp_path: Path):
    lines = real_csv.read_text().splitlines()
    lines[0] = ",".join(c.strip() for c in lines[0].split(","))
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(lines) + "\n")
    a, b = read_openface_csv(real_csv), read_openface_csv(plain)
    assert a.names == b.names
    np.testing.assert_array_equal(a.values, b.values)


def test_compute_au_dispatches_to_openface(real_csv: Path):
    entry = VideoEntry(video_id="clip", path=str(real_csv.with_suffix(".mp4")), subject="s1")
    cfg = OpenFaceAUConfig()
    res = compute_au(geometry(np.arange(10, 60)), entry, cfg, root=real_csv.parent)
    assert res.source == "openface_csv" and res.names == OPENFACE_AUS
    assert res.values.shape == (50, 17) and res.values.dtype == np.float32
    assert res.values[0, 0] == pytest.approx(read_openface_csv(real_csv).values[10, 0])
    assert source_files(entry, cfg, real_csv.parent) == [real_csv]
    assert source_files(entry, LandmarksAUConfig(), real_csv.parent) == []


# ---------------------------------------------------------------- rows per frame


def test_failed_rows_are_nan_and_best_face_wins(tmp_path: Path):
    p = small_csv(tmp_path, [
        "1, 0, 0.00, 0.98, 1, 1.0, 2.0, 0.1, 1",
        "2, 0, 0.04, 0.10, 0, 3.0, 3.0, 0.3, 1",  # success 0 -> NaN
        "3, 0, 0.08, 0.60, 1, 0.5, 0.5, 0.0, 0",
        "3, 1, 0.08, 0.95, 1, 4.0, 4.5, 0.0, 1",  # second face, more confident -> kept
        "4, 0, 0.12, 0.99, 0, 9.0, 9.0, 9.0, 1",  # failed but confident
        "4, 1, 0.12, 0.50, 1, 1.5, 1.5, 0.5, 1",  # successful -> kept
    ])
    vals, names = openface_aus(p, np.arange(4), OpenFaceAUConfig())
    assert names == ["AU01", "AU12", "AU45"]
    np.testing.assert_allclose(vals[0], [1.0, 2.0, 0.1], rtol=1e-6)
    assert np.isnan(vals[1]).all()
    np.testing.assert_allclose(vals[2], [4.0, 4.5, 0.0], rtol=1e-6)
    np.testing.assert_allclose(vals[3], [1.5, 1.5, 0.5], rtol=1e-6)


def test_no_frame_in_common_is_an_error(real_csv: Path):
    with pytest.raises(OpenFaceCSVError, match="no frame in common") as exc:
        openface_aus(real_csv, np.arange(500, 520), OpenFaceAUConfig(), video="S01")
    assert "S01" in str(exc.value) and "0-99" in str(exc.value)


# ---------------------------------------------------------------- malformed files


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("", "empty file"),
        ("frame, success, AU01_r\n", "header only"),
        (
            "frame, success, confidence, AU01_c\n1, 1, 0.9, 1\n",
            "line 1: no AUxx_r intensity column",
        ),
        ("timestamp, AU01_r\n0, 1.0\n", "line 1: no 'frame' column"),
        ("frame, AU01_r, AU01_r\n1, 1, 1\n", "line 1: column 'AU01_r' appears twice"),
        ("frame, success, AU01_r\n1, 1, 0.5\n2, 1\n", "line 3: 2 fields, expected 3"),
        (
            "frame, success, AU01_r\n1, 1, 0.5\n2, 1, abc\n",
            "line 3, column 'AU01_r': 'abc' is not a number",
        ),
        ("frame, success, AU01_r\n1, yes, 0.5\n", "line 2, column 'success': 'yes'"),
        (
            "frame, success, AU01_r\n1.5, 1, 0.5\n",
            "line 2, column 'frame': expected a whole number",
        ),
    ],
)
def test_malformed_csv_names_file_line_and_column(tmp_path: Path, content: str, pattern: str):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(OpenFaceCSVError, match=pattern) as exc:
        read_openface_csv(p)
    assert str(p) in str(exc.value)


def test_missing_csv(tmp_path: Path):
    with pytest.raises(OpenFaceCSVError, match="file not found"):
        read_openface_csv(tmp_path / "nope.csv")


def test_blank_lines_are_skipped(tmp_path: Path):
    p = tmp_path / "blank.csv"
    p.write_text("frame, success, confidence, AU01_r\n1, 1, 0.9, 0.5\n\n2, 1, 0.9, 0.7\n\n")
    assert read_openface_csv(p).values[:, 0] == pytest.approx([0.5, 0.7])


# ---------------------------------------------------------------- path template


def test_csv_path_template_fields(tmp_path: Path):
    root = tmp_path / "data"
    entry = VideoEntry(video_id="F001_happy", path=str(root / "F001" / "happy.mp4"), subject="F001")
    assert openface_csv_path(entry, OpenFaceAUConfig(), root) == root / "happy.csv"
    cfg = OpenFaceAUConfig(openface_csv="openface/{dir}/{stem}.csv")
    assert openface_csv_path(entry, cfg, root) == root / "openface" / "F001" / "happy.csv"
    cfg = OpenFaceAUConfig(openface_csv="of/{subject}/{video_id}.csv")
    assert openface_csv_path(entry, cfg, root) == root / "of" / "F001" / "F001_happy.csv"
    cfg = OpenFaceAUConfig(openface_csv=str(tmp_path / "abs" / "{stem}.csv"))
    assert openface_csv_path(entry, cfg, root) == tmp_path / "abs" / "happy.csv"


def test_csv_path_template_unknown_field(tmp_path: Path):
    entry = VideoEntry(video_id="v", path=str(tmp_path / "v.mp4"), subject="s")
    with pytest.raises(ConfigError, match=r"(?s)stages.au.openface_csv.*KeyError.*\{video_id\}"):
        openface_csv_path(entry, OpenFaceAUConfig(openface_csv="{name}.csv"), tmp_path)
