"""The plan made column-wise (issue 22, item 3): a stage's fingerprints for every video at once,
its records in one ordered query, a Unit object only for units not up to date. Each state and
reason must be what deciding unit by unit gives, and an up-to-date unit asked for by key must
be the unit a full plan would have held."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from emoprep.io.atomic import stamp_file
from emoprep.io.layout import Layout
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.dag import make_plan
from emoprep.pipeline.fingerprint import digest
from emoprep.pipeline.records import Record, RecordStore
from emoprep.pipeline.stagedef import PlanContext
from emoprep.types import UnitState, UnitStatus, VideoEntry
from tests.helpers import NameHashes, NoRecords

VIDEOS = [VideoEntry(f"s{i:02d}_happy_{i}", f"/data/s{i:02d}.mp4", f"s{i:02d}",
                     {"emotion": "happy"}) for i in range(6)]


def _ctx(content: dict[str, str]) -> PlanContext:
    return PlanContext(StagesConfig.model_validate({"embed": {"hog": {"type": "hog"}}}),
                       Path("/data"), NameHashes(), content=content)


def _folder(tmp_path: Path) -> tuple[Layout, RecordStore, PlanContext]:
    """Records of a finished run of every unit: each names one output file of its own."""
    ctx = _ctx({v.video_id: "c-" + v.video_id for v in VIDEOS})
    lay = Layout(tmp_path)
    store = RecordStore(lay)
    recs = []
    for unit in make_plan(VIDEOS, ctx, lay, NoRecords()).units.values():  # type: ignore[arg-type]
        rel = f"out/{unit.stage.replace(':', '-')}/{unit.video.video_id}.bin"
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
        recs.append(Record(unit.stage, unit.video.video_id, unit.fingerprint, unit.components,
                           UnitStatus.OK, outputs=[rel], summary={"n_frames": 1},
                           checksums={rel: stamp_file(tmp_path / rel)}))
    store.put_many(recs)
    store.close()
    return lay, RecordStore(lay), ctx


def test_an_up_to_date_folder_has_no_unit_objects_and_exact_counts(tmp_path: Path) -> None:
    lay, store, ctx = _folder(tmp_path)
    plan = make_plan(VIDEOS, ctx, lay, store)
    assert plan.live() == []
    assert plan.fresh_count() == len(plan.units) == len(plan.stages) * len(VIDEOS) == 36
    assert plan.counts("track")[UnitState.FRESH] == len(VIDEOS)
    for key in plan.units:  # made from its record when asked for
        unit = plan.units[key]
        assert unit.state is UnitState.FRESH and unit.key == key
        assert unit.fingerprint == store.get(*key).fingerprint  # type: ignore[union-attr]
        assert digest(unit.components) == unit.fingerprint


def test_changed_inputs_outputs_and_failures_are_decided_as_unit_by_unit(tmp_path: Path) -> None:
    lay, store, ctx = _folder(tmp_path)
    ctx.content[VIDEOS[1].video_id] = "c-changed"  # content changed: every stage of it
    (tmp_path / f"out/frames/{VIDEOS[2].video_id}.bin").unlink()  # one output missing
    (tmp_path / f"out/track/{VIDEOS[3].video_id}.bin").write_bytes(b"y")  # corrupt
    old = store.get("track", VIDEOS[4].video_id)
    assert old is not None
    store.put(Record("track", old.video_id, old.fingerprint, store.components(old),
                     UnitStatus.FAILED, error="no face", error_type="NoFaceError"))
    store.close()
    con = sqlite3.connect(tmp_path / ".emoprep" / "records.sqlite")  # a damaged row, same fp
    con.execute("UPDATE records SET body = substr(body, 1, 50) WHERE stage = 'au' "
                "AND video_id = ?", (VIDEOS[5].video_id,))
    con.commit()
    con.close()
    plan = make_plan(VIDEOS, ctx, lay, RecordStore(lay))
    got = {(u.stage, u.video.video_id): (u.state, u.reasons[0]) for u in plan.live()}
    assert got.pop(("au", VIDEOS[5].video_id))[1].startswith(
        f"record unreadable: records.sqlite row au/{VIDEOS[5].video_id}: JSONDecodeError")
    v1, v2, v3, v4 = (v.video_id for v in VIDEOS[1:5])
    assert got[("probe", v1)] == (UnitState.STALE, f"input content changed c-{v1} -> c-changed")
    assert {s for s, v in got if v == v1} == {d.name for d in plan.stages}
    assert got[("frames", v2)] == (UnitState.STALE, f"output missing: out/frames/{v2}.bin")
    assert got[("track", v3)][1].startswith(f"output corrupt: out/track/{v3}.bin")
    assert got[("frames", v3)][1].startswith("output corrupt upstream: track")
    assert got[("track", v4)][0] is UnitState.DATA_FAILED
    assert got[("frames", v4)] == (UnitState.BLOCKED, "upstream failed")
    assert not any(v == VIDEOS[0].video_id or v == VIDEOS[5].video_id for _, v in got)
    assert [u.video.video_id for u in plan.live()] == sorted(
        (u.video.video_id for u in plan.live()), key=[v.video_id for v in VIDEOS].index)
    assert plan.counts("frames") == {**dict.fromkeys(UnitState, 0), UnitState.FRESH: 2,
                                     UnitState.STALE: 3, UnitState.BLOCKED: 1}
    assert plan.counts("track") == {**dict.fromkeys(UnitState, 0), UnitState.FRESH: 3,
                                    UnitState.STALE: 2, UnitState.DATA_FAILED: 1}
