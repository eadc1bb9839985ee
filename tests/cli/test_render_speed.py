"""Speed shown to the user: frames per second and the time left in the plain progress lines, and
seconds per stage with the frame rate in the run summary (issue 24 item 5)."""

from __future__ import annotations

import io

from emoprep.cli.render import Progress, duration, speed_text, stage_seconds_line


def test_duration_by_hand() -> None:
    assert [duration(s) for s in (0, 42.4, 60, 75, 3599, 3600, 7530)] == [
        "0 s", "42 s", "1 min 00 s", "1 min 15 s", "59 min 59 s", "1 h 00 min", "2 h 05 min"]


def test_speed_text_rate_and_time_left() -> None:
    p = Progress(stream=io.StringIO())
    p.t0, p.total, p.done_units, p.n_frames = 100.0, 40, 10, 500
    # 20 s for 10 units and 500 frames: 25 frames/s; 30 units left at 2 s each
    assert speed_text(p, 120.0) == ", 25.0 frames/s, about 1 min 00 s left"
    p.done_units = 40
    assert speed_text(p, 120.0) == ", 25.0 frames/s"
    p.done_units = 0
    assert speed_text(p, 120.0) == ""


def test_plain_progress_line_carries_the_speed() -> None:
    out = io.StringIO()
    p = Progress(stream=out, every_s=0.0)
    p.total, p.t0 = 4, p.t0 - 10.0  # started 10 s ago
    p.n_frames, p.done_units = 200, 2
    p._tick(force=True)
    assert "2/4 units, 0 failed, 200 frames decoded, " in out.getvalue()
    assert "frames/s, about " in out.getvalue() and " left" in out.getvalue()


def test_stage_seconds_line_sums_per_stage_and_counts_frames_of_videos_that_ran() -> None:
    ran = [{"stage": "track", "video_id": "a", "seconds": 2.0},
           {"stage": "track", "video_id": "b", "seconds": 3.0},
           {"stage": "frames", "video_id": "a", "seconds": 1.5},
           {"stage": "embed:hog@flip", "video_id": "a", "seconds": 0.5}]
    videos = [{"video_id": "a", "status": "ok", "n_frames": 100},
              {"video_id": "b", "status": "failed"},
              {"video_id": "c", "status": "ok", "n_frames": 999}]  # up to date: not counted
    assert stage_seconds_line(ran, videos, 4.0) == [
        "time per stage: track 5.0 s, frames 1.5 s, embed:hog 0.5 s; 100 frames kept, "
        "25.0 frames/s of work time"]
    assert stage_seconds_line([], videos, 4.0) == []
