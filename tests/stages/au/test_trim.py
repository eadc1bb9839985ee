"""Algorithm 1 (AU-score neutral trimming) on hand-made scores, the score itself, and overrides."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoprep.errors import ConfigError, StageError
from emoprep.stages.au import SOURCES, LandmarksAUConfig, OpenFaceAUConfig, PyFeatAUConfig
from emoprep.stages.au.openface import read_openface_csv
from emoprep.stages.au.trim import (
    TrimCap,
    TrimConfig,
    TrimCount,
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


def _random_case(kind: str, seed: int) -> tuple[np.ndarray, TrimConfig, int, int]:
    """Scores built so that the case is known: (scores (T,), config, neutral head, neutral tail).

    Neutral frames lie in [0, 0.49) of the max (below the 0.5 threshold), expressive ones in
    [0.5, 1); one frame is exactly the max 1.0: in the expressive block, or for ``anomaly`` in the
    last ``anomaly_last`` frames. ``free``: head + max(tail, min_end_cut) stays under the cap;
    ``capped``: head + tail is over it."""
    rng = np.random.default_rng(seed)
    hi = 0.5 if kind == "capped" else 0.9
    cfg = TrimConfig(min_end_cut=int(rng.integers(0, 15)), max_cut=float(rng.uniform(0.2, hi)))
    t = int(rng.integers(120, 200))
    cap = math.floor(cfg.max_cut * t + 1e-9)
    if kind == "capped":  # both sides still cutting when the cap is reached
        head = (cap + 1) // 2 + int(rng.integers(1, 6))
        tail = cap // 2 + int(rng.integers(1, 6))
    else:
        room = max(cap - 1 - cfg.min_end_cut, 0)
        head = int(rng.integers(0, room // 2 + 1))
        tail = int(rng.integers(0, cap - head))
    s = rng.uniform(0.0, 0.49, t)
    s[head : t - tail] = rng.uniform(0.5, 0.99, t - head - tail)
    peak = (t - 1 - int(rng.integers(0, cfg.anomaly_last)) if kind == "anomaly"
            else head + int(rng.integers(0, t - head - tail - cfg.anomaly_last)))
    s[peak] = 1.0
    return s.astype(np.float32), cfg, head, tail


@pytest.mark.parametrize("kind", ["free", "capped", "anomaly"])
@pytest.mark.parametrize("seed", range(8))
def test_invariants_on_random_scores(kind: str, seed: int):
    s, cfg, head, tail = _random_case(kind, seed)
    t = s.size
    cap = math.floor(cfg.max_cut * t + 1e-9)
    r = au_trim(s, cfg, 0.5)
    assert r.anomaly == (kind == "anomaly") and r.peak == int(np.argmax(s))
    assert r.threshold == pytest.approx(0.5)
    if kind == "anomaly":
        assert (r.start, r.end) == (0, t) and r.peak >= t - cfg.anomaly_last
        return
    assert 0 <= r.start <= r.peak < r.end <= t
    assert np.all(s[: r.start] < r.threshold)
    assert np.all(s[r.end : t - cfg.min_end_cut] < r.threshold)  # cut beyond the forced minimum
    if kind == "free":  # both stop rules met: exactly the neutral head and tail (or the minimum)
        assert head + max(tail, cfg.min_end_cut) < cap
        assert (r.start, r.end) == (head, t - max(tail, cfg.min_end_cut))
        assert s[r.start] >= r.threshold and s[r.end - 1] >= r.threshold
        assert "cap of" not in r.reason
    else:  # one cut a side per step, the start first, until the cap stops both
        assert head > (cap + 1) // 2 and tail > cap // 2
        assert (r.start, r.end) == ((cap + 1) // 2, t - cap // 2)
        assert f"cap of {cfg.max_cut:.0%} reached" in r.reason


# ---------------------------------------------------------------- the score


# ------------------------------------------- trim.cap: prose vs the printed pseudo-code

def spike(t: int, at: int) -> np.ndarray:
    """T frames at 0 with one frame at 1: everything but the spike lies below the threshold."""
    s = np.zeros(t, dtype=np.float32)
    s[at] = 1.0
    return s


def test_pseudocode_cap_can_cut_two_more_on_odd_length():
    """T = 45, spike at 22 (not in the last 20): both sides cut every step. Prose: cap
    floor(22.5) = 22 checked before each cut -> 11 + 11, kept [11, 34). Pseudo-code: after step k
    cut = 2k, stop at 2k >= 22.5 -> k = 12, 24 = floor(45 / 2) + 2 frames cut, kept [12, 33)."""
    s = spike(45, 22)
    assert trim(s) == (11, 34, False)
    assert trim(s, cap=TrimCap.PSEUDOCODE) == (12, 33, False)


def test_pseudocode_cap_can_cut_one_more_on_even_length():
    """T = 46, spike at 23: prose cap 23 -> the start side makes the 23rd cut in step 12, the end
    side is then stopped: [12, 35). Pseudo-code: 22 < 23 after step 11, 24 after step 12 ->
    [12, 34), floor(46 / 2) + 1."""
    s = spike(46, 23)
    assert trim(s) == (12, 35, False)
    assert trim(s, cap="pseudocode") == (12, 34, False)


def test_pseudocode_cap_one_side_only():
    """T = 21, spike at frame 0 (not an anomaly: 0 < 21 - 20): only the end cuts. Prose: 10 ->
    [0, 11); pseudo-code: one cut per step until cut >= 10.5 -> 11 -> [0, 10)."""
    s = spike(21, 0)
    assert trim(s) == (0, 11, False)
    assert trim(s, cap=TrimCap.PSEUDOCODE) == (0, 10, False)


def test_both_caps_agree_when_the_cap_is_not_reached():
    s = seq((N, 5), (A, 25), (N, 10))  # T = 40: 5 + 10 cut, cap 20 never reached
    assert trim(s) == trim(s, cap=TrimCap.PSEUDOCODE) == (5, 30, False)


@pytest.mark.parametrize("seed", range(40))
def test_pseudocode_cuts_at_most_two_more_than_prose(seed: int):
    rng = np.random.default_rng(seed)
    t = int(rng.integers(25, 90))
    x = np.arange(t)
    s = np.exp(-0.5 * ((x - rng.uniform(0.2, 0.7) * t) / rng.uniform(2, 0.4 * t)) ** 2)
    prose = au_trim(s, TrimConfig(), 0.5)
    pseudo = au_trim(s, TrimConfig(cap=TrimCap.PSEUDOCODE), 0.5)
    assert prose.anomaly == pseudo.anomaly
    if prose.anomaly:
        return
    cut_p, cut_q = t - (prose.end - prose.start), t - (pseudo.end - pseudo.start)
    assert cut_p <= math.floor(t / 2) and cut_q - cut_p in (0, 1, 2)
    if cut_q > cut_p:
        assert cut_q in (math.floor(t / 2) + 1, math.floor(t / 2) + 2)
    assert pseudo.start >= prose.start and pseudo.end <= prose.end


# ------------------------------------------- trim.count_in: kept vs source frames

EVERY3 = np.arange(30) * 3  # 30 tracked frames, window.sample.every 3: source frames 0, 3, .., 87


def test_min_end_cut_counts_source_frames():
    """Scores all at the apex: only the forced end cut. Kept: 10 tracked frames -> [0, 20).
    Source: the last 10 source frames (78..87) hold the tracked frames 78, 81, 84, 87 -> [0, 26)."""
    s = np.ones(30, dtype=np.float32)
    assert trim(s) == (0, 20, False)
    r = au_trim(s, TrimConfig(count_in=TrimCount.SOURCE), 0.5, frame_index=EVERY3)
    assert (r.start, r.end, r.anomaly) == (0, 26, False)


def test_anomaly_last_counts_source_frames():
    """Peak at tracked frame 20 = source frame 60. Kept: 20 >= 30 - 20 -> anomaly. Source:
    87 - 60 = 27 source frames before the end, not within the last 20 -> trimmed."""
    s = np.full(30, 0.8, dtype=np.float32)
    s[20] = 1.0
    assert trim(s)[2] is True
    r = au_trim(s, TrimConfig(count_in="source"), 0.5, frame_index=EVERY3)
    assert not r.anomaly and (r.start, r.end) == (0, 26)  # 87, 84, 81, 78: the last 10
    s[20], s[24] = 0.8, 1.0  # source 72: 87 - 72 = 15 < 20
    assert au_trim(s, TrimConfig(count_in="source"), 0.5, frame_index=EVERY3).anomaly


def test_source_count_equals_kept_without_sub_sampling():
    rng = np.random.default_rng(3)
    for _ in range(20):
        s = rng.uniform(0, 1, int(rng.integers(25, 70)))
        fi = np.arange(s.size) + int(rng.integers(0, 50))  # consecutive, any offset
        a = au_trim(s, TrimConfig(), 0.5)
        b = au_trim(s, TrimConfig(count_in=TrimCount.SOURCE), 0.5, frame_index=fi)
        assert (a.start, a.end, a.anomaly) == (b.start, b.end, b.anomaly)


def test_source_count_needs_the_frame_numbers():
    with pytest.raises(StageError, match="count_in: source needs"):
        au_trim(np.ones(30), TrimConfig(count_in="source"), 0.5)
    with pytest.raises(StageError, match="increasing"):
        au_trim(np.ones(30), TrimConfig(count_in="source"), 0.5, frame_index=EVERY3[::-1])


def test_new_keys_stay_out_of_the_fingerprint_at_their_defaults():
    assert "cap" not in TrimConfig().fingerprint_slice()
    assert "count_in" not in TrimConfig().fingerprint_slice()
    assert TrimConfig().fingerprint_slice() == {"threshold": None, "min_end_cut": 10,
                                                "anomaly_last": 20, "max_cut": 0.5,
                                                "overrides": None}
    slice_ = TrimConfig(cap="pseudocode", count_in="source").fingerprint_slice()
    assert slice_["cap"] == "pseudocode" and slice_["count_in"] == "source"


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
    with pytest.raises(ValueError, match=r"threshold\n  Input should be less than 1 .*=1.5"):
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
