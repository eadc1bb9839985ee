"""Algorithm 1 (AU-score neutral trimming) on hand-made scores, the score itself, and overrides."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoprep.errors import ConfigError, StageError
from emoprep.stages.au import SOURCES, LandmarksAUConfig, OpenFaceAUConfig, PyFeatAUConfig
from emoprep.stages.au.openface import read_openface_csv
from emoprep.stages.au.trim import (
    TrimConfig,
    au_trim,
    load_overrides,
    override_range,
    resolve_threshold,
    trim_score,
)

N, A = 0.1, 1.0  # neutral and apex levels


def seq(*parts: tuple[float, int]) -> np.ndarray:
    return np.concatenate([np.full(n, v, dtype=np.float32) for v, n in parts])


def trim(score: np.ndarray, thr: float = 0.5, **kw) -> tuple[int, int, bool]:
    r = au_trim(score, TrimConfig(**kw), thr)
    return r.start, r.end, r.anomaly


# ---------------------------------------------------------------- Algorithm 1, exact ranges


def test_onset_apex_offset_cuts_neutral_both_ends():
    s = seq((N, 8), (0.6, 5), (A, 10), (0.6, 12), (N, 15))  # T = 50, peak 13
    r = au_trim(s, TrimConfig(), 0.5)
    assert (r.start, r.end, r.anomaly) == (8, 35, False)
    assert r.peak == 13 and r.threshold == pytest.approx(0.5)


def test_threshold_is_strict_less_than():
    s = seq((N, 5), (0.5, 3), (A, 10), (0.5, 20), (N, 12))  # 0.5 == thr is kept
    assert trim(s) == (5, 38, False)


def test_minimum_end_cut_of_ten_frames():
    s = seq((N, 5), (A, 10), (0.8, 25))  # offset never drops below the threshold
    assert trim(s) == (5, 30, False)
    assert trim(s, min_end_cut=0) == (5, 40, False)
    assert trim(s, min_end_cut=4) == (5, 36, False)


def test_min_end_cut_is_a_floor_not_a_cap():
    s = seq((N, 3), (A, 10), (0.8, 10), (N, 17))  # 17 neutral frames at the end > 10
    assert trim(s) == (3, 23, False)


def test_cap_half_the_video_alternating_sides():
    s = seq((N, 30), (A, 1), (N, 29))  # T = 60, peak 30: both sides want to cut ~30
    r = au_trim(s, TrimConfig(), 0.5)
    assert (r.start, r.end) == (15, 45) and "cap" in r.reason
    assert trim(s, max_cut=1.0) == (30, 31, False)
    assert trim(s, max_cut=0.25) == (8, 53, False)  # floor(15.0): 8 at the start, 7 at the end


def test_cap_with_odd_length_never_exceeds_half():
    s = seq((N, 20), (A, 1), (N, 20))  # T = 41, cap floor(20.5) = 20
    assert trim(s) == (10, 31, False)


def test_anomaly_when_max_in_last_twenty_frames():
    s = seq((N, 30), (0.5, 10), (A, 5), (0.2, 5))  # T = 50, peak 40
    r = au_trim(s, TrimConfig(), 0.5)
    assert (r.start, r.end, r.anomaly, r.peak) == (0, 50, True, 40)
    assert r.threshold == pytest.approx(0.5) and "last 20" in r.reason


def test_anomaly_boundary_is_frame_t_minus_twenty():
    at = seq((N, 30), (A, 1), (N, 19))  # T = 50, peak 30 = T - 20 -> anomaly
    before = seq((N, 29), (A, 1), (N, 20))  # peak 29 -> trimmed
    assert trim(at) == (0, 50, True)
    assert trim(before) == (13, 38, False)  # cap 25: 13 at the start, 12 at the end
    assert trim(at, anomaly_last=19)[2] is False


def test_constant_scores_cut_only_the_minimum_end():
    assert trim(np.full(40, 0.3, dtype=np.float32)) == (0, 30, False)
    r = au_trim(np.zeros(40, dtype=np.float32), TrimConfig(), 0.5)
    assert (r.start, r.end, r.anomaly, r.peak, r.threshold) == (0, 30, False, 0, 0.0)


def test_very_short_videos_are_anomalies():
    for t in (1, 5, 15, 20):
        s = seq((N, t // 3), (A, 1), (N, t - t // 3 - 1))
        assert trim(s) == (0, t, True), t
    assert trim(seq((N, 3), (A, 4), (N, 8)), anomaly_last=0) == (3, 11, False)


def test_empty_and_all_nan_scores():
    r = au_trim(np.zeros(0, dtype=np.float32), TrimConfig(), 0.5)
    assert (r.start, r.end, r.anomaly, r.peak) == (0, 0, True, -1)
    r = au_trim(np.full(30, np.nan, dtype=np.float32), TrimConfig(), 0.5)
    assert (r.start, r.end, r.anomaly, r.peak) == (0, 30, True, -1)
    assert math.isnan(r.threshold) and "no face" in r.reason


def test_nan_frames_count_as_below_threshold():
    s = seq((np.nan, 3), (N, 4), (A, 26), (N, 6), (np.nan, 11))  # T = 50, peak 7
    assert trim(s) == (7, 33, False)
    s[20] = np.nan  # a gap inside the expression changes nothing
    assert trim(s) == (7, 33, False)


def test_other_threshold_fraction():
    s = seq((N, 4), (0.3, 4), (A, 24), (0.3, 6), (N, 6))  # T = 44
    assert trim(s, thr=0.5) == (8, 32, False)
    assert trim(s, thr=0.25) == (4, 34, False)  # 6 neutral < 10: the minimum end cut decides


@pytest.mark.parametrize("seed", range(20))
def test_invariants_on_random_scores(seed: int):
    rng = np.random.default_rng(seed)
    t = int(rng.integers(21, 120))
    s = rng.random(t).astype(np.float32)
    cfg = TrimConfig(min_end_cut=int(rng.integers(0, 15)), max_cut=float(rng.uniform(0.2, 1.0)))
    r = au_trim(s, cfg, 0.5)
    if r.anomaly:
        assert (r.start, r.end) == (0, t) and r.peak >= t - cfg.anomaly_last
        return
    cap = math.floor(cfg.max_cut * t + 1e-9)
    assert 0 <= r.start <= r.peak < r.end <= t
    assert r.start + (t - r.end) <= cap
    assert np.all(s[: r.start] < r.threshold)
    assert np.all(s[r.end : t - cfg.min_end_cut] < r.threshold)  # cut beyond the forced minimum
    if r.start + (t - r.end) < cap:  # not capped: both stop rules were met
        assert s[r.start] >= r.threshold
        assert t - r.end >= cfg.min_end_cut and s[r.end - 1] >= r.threshold


# ---------------------------------------------------------------- the score


def test_trim_score_excludes_blink_and_skips_nan():
    v = np.array([[1, 2, 5], [np.nan, 4, 0], [np.nan, np.nan, 3]], dtype=np.float32)
    got = trim_score(v, ["AU01", "AU02", "AU45"])
    np.testing.assert_allclose(got[:2], [1.5, 4.0])
    assert np.isnan(got[2]) and got.dtype == np.float32
    np.testing.assert_allclose(trim_score(v, ["AU01_r", "AU02_r", " AU45_r"])[:2], [1.5, 4.0])


def test_trim_score_needs_an_au_besides_blink():
    with pytest.raises(StageError, match="AU45"):
        trim_score(np.zeros((3, 1)), ["AU45"])
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        trim_score(np.zeros((3, 3)), ["AU01", "AU02"])


def test_trim_on_real_openface_scores(samples_dir):
    table = read_openface_csv(samples_dir / "OpenFace_Test.csv")
    s = trim_score(table.values, table.names)
    assert s.shape == (100,) and np.all(np.isfinite(s))
    # frame 1 (row 0): mean of the 16 non-blink AUs, values read from the file
    assert s[0] == pytest.approx((0.6773 + 0.4275 + 0.2435 + 0.3434 + 0.4543) / 16, abs=1e-6)
    r = au_trim(s, TrimConfig(), OpenFaceAUConfig.trim_threshold)
    # a near-constant clip (scores 0.07-0.18, max at frame 13 = row 12): frame 1 is already
    # above half the max, and the offset never drops below it, so only the 10-frame minimum goes
    assert (r.start, r.end, r.anomaly, r.peak) == (0, 90, False, 12)
    assert r.threshold == pytest.approx(0.5 * float(s.max())) and s[0] >= r.threshold


def test_default_thresholds_per_source():
    for src in SOURCES:
        assert 0.0 < src.trim_threshold < 1.0
    assert OpenFaceAUConfig.trim_threshold == 0.5  # thesis value
    assert resolve_threshold(TrimConfig(), PyFeatAUConfig()) == PyFeatAUConfig.trim_threshold
    assert resolve_threshold(TrimConfig(threshold=0.3), LandmarksAUConfig()) == 0.3
    with pytest.raises(ValueError):
        TrimConfig(threshold=1.5)


# ---------------------------------------------------------------- overrides


def test_overrides_yaml_both_forms(tmp_path):
    p = tmp_path / "ov.yaml"
    p.write_text("S01_happy: [10, 50]\nS02_sad: {start: 0, end: 7}\n")
    assert load_overrides(p) == {"S01_happy": (10, 50), "S02_sad": (0, 7)}


def test_overrides_csv(tmp_path):
    p = tmp_path / "ov.csv"
    p.write_text("video_id, start, end\nS01_happy,10,50\nS02_sad, 3 ,9\n")
    assert load_overrides(p) == {"S01_happy": (10, 50), "S02_sad": (3, 9)}


def test_overrides_errors_name_file_and_every_key(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("a: [5, 5]\nb: [x, 3]\nc: 7\nd: [-1, 4]\nok: [1, 2]\n")
    with pytest.raises(ConfigError) as exc:
        load_overrides(p)
    msg = str(exc.value)
    assert "4 errors in" in msg and str(p) in msg
    for key in ("a:", "b:", "c:", "d:"):
        assert key in msg
    assert "ok:" not in msg


def test_overrides_csv_errors(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("video,from,to\nx,1,2\n")
    with pytest.raises(ConfigError, match="video_id,start,end"):
        load_overrides(p)
    p.write_text("video_id,start,end\nx,1,2\nx,3,4\ny,9,2\n")
    with pytest.raises(ConfigError) as exc:
        load_overrides(p)
    assert "x: listed twice" in str(exc.value) and "y: expected 0 <= start < end" in str(exc.value)


def test_overrides_missing_or_unknown_format(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_overrides(tmp_path / "none.yaml")
    p = tmp_path / "ov.json"
    p.write_text("{}")
    with pytest.raises(ConfigError, match="unknown overrides format"):
        load_overrides(p)
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_overrides(p)


def test_override_range_maps_source_frames_to_tracked_indices():
    fi = np.array([10, 12, 14, 16, 18, 20], dtype=np.int64)
    assert override_range(fi, 12, 18) == (1, 4)  # frames 12, 14, 16
    assert override_range(fi, 11, 19) == (1, 5)
    assert override_range(fi, 0, 100) == (0, 6)
    with pytest.raises(StageError, match="keeps no tracked frame"):
        override_range(fi, 21, 30)
