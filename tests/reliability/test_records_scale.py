"""The kill points of the records database at scale (issue 22, item 3): a SIGKILL just before,
and in the middle of, the commit of one large transaction (a batch's records: 24,000 units held
together, ``RecordStore.hold``), and during the migration of a version-1 database.
Each leaves the database whole: every transaction committed before is there, the one killed is
not there at all, and the next run resumes from it. Cheap enough for every CI run (seconds: the
records are written by the store itself, no video is decoded).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emoprep.io.layout import Layout
from emoprep.pipeline import records_db as db
from emoprep.pipeline.records import Record, RecordStore
from emoprep.types import UnitStatus

REPO = Path(__file__).resolve().parents[2]
#: units of the committed transaction, and of the large one that is killed (a batch of 4,000
#: items, the default, has 24,000 units with six stages)
FIRST, HELD = 6_000, 24_000

#: the child: FIRST records in one transaction, then HELD records held as one batch and
#: committed once (``kill_at`` may kill it just before that commit)
CHILD = """
import sys
from pathlib import Path
from emoprep.io.layout import Layout
from emoprep.pipeline.records import RecordStore
from tests.reliability.test_records_scale import records, FIRST, HELD
store = RecordStore(Layout(Path(sys.argv[1])))
store.put_many(list(records(0, FIRST)))
print("first committed", flush=True)
store.hold = True
for rec in records(FIRST, FIRST + HELD):
    store.put(rec)
print("held", flush=True)
store.hold = False
store.commit()
store.close()
print("done", flush=True)
"""


def records(start: int, stop: int) -> list[Record]:
    """Records of items ``start`` to ``stop`` of one stage, each naming its batch's pack."""
    return [Record("probe", f"img{i:07d}", f"{i:064x}", {"stage": "probe", "inputs": {"n": i}},
                   UnitStatus.OK, outputs=[f".emoprep/work/probe/packs/b{i // 4000:06d}.h5"],
                   summary={"n_frames": 1, "batch": f"b{i // 4000:06d}"},
                   checksums={f".emoprep/work/probe/packs/b{i // 4000:06d}.h5":
                              {"size": 1, "mtime_ns": i // 4000, "sha256": "0" * 64}})
            for i in range(start, stop)]


def _child(out: Path, kill_at: str | None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    if kill_at:  # kill_at.py installs the hook, then runs the code given after it
        code = (f"from tests.reliability.kill_at import _install; _install({kill_at!r})\n"
                + CHILD)
    else:
        code = CHILD
    return subprocess.Popen([sys.executable, "-c", code, str(out)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, text=True)


def _rows(out: Path) -> dict[str, str]:
    """video id -> fingerprint of every row, read as a fresh process would (the WAL replayed)."""
    store = RecordStore(Layout(out))
    store.open_for_run()
    assert store._con is not None
    assert store._con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = {vid: fp for vid, fp, *_ in store.plan_rows("probe") or ()}
    store.close()
    return rows


def _expect(rows: dict[str, str], n: int) -> None:
    assert len(rows) == n
    assert rows == {f"img{i:07d}": f"{i:064x}" for i in range(n)}


def _resume(out: Path) -> None:
    """The next run writes the lost batch again: every unit is there, each once."""
    store = RecordStore(Layout(out))
    store.put_many(records(FIRST, FIRST + HELD))
    store.close()
    _expect(_rows(out), FIRST + HELD)


def test_sigkill_before_a_large_batch_commit_loses_that_batch_only(tmp_path: Path) -> None:
    """Killed just before the commit of the held batch (kill_at: the database's 3rd commit:
    its creation's rename, the first transaction, then the batch)."""
    out = tmp_path / "out"
    proc = _child(out, f"{out}/.emoprep/records.sqlite#3")
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, text
    assert "held" in text and "done" not in text
    assert (out / ".emoprep/records.sqlite-wal").is_file()  # a kill, not a close
    _expect(_rows(out), FIRST)
    _resume(out)


def test_sigkill_during_a_large_batch_commit_is_all_or_nothing(tmp_path: Path) -> None:
    """Killed from outside while the batch is being written (its pages spill into the WAL before
    the commit) or committed: the batch is there whole or not at all."""
    out = tmp_path / "out"
    proc = _child(out, None)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "first committed"
    wal = out / ".emoprep/records.sqlite-wal"
    start = wal.stat().st_size if wal.exists() else 0
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if wal.exists() and wal.stat().st_size > start + (4 << 20):  # the batch spilling
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    rows = _rows(out)
    assert len(rows) in (FIRST, FIRST + HELD)
    _expect(rows, len(rows))
    if len(rows) == FIRST:
        _resume(out)


def _version_1(out: Path, n: int) -> None:
    """A version-1 database (rows in a rowid table) of ``n`` units, as emoprep 0.x left it."""
    lay = Layout(out)
    lay.meta_dir.mkdir(parents=True)
    con = sqlite3.connect(db.db_path(lay))
    con.execute(db.SCHEMA.format(table="records").replace(") WITHOUT ROWID", ")"))
    con.execute("PRAGMA user_version=1")
    db.put_rows(con, (db.to_row(r) for r in records(0, n)))
    con.commit()
    con.close()


@pytest.mark.parametrize("killed", [True, False], ids=["killed", "clean"])
def test_migration_of_a_large_version_1_database(tmp_path: Path, killed: bool) -> None:
    """``status`` reads a version-1 database as it is; the first run migrates it in one
    transaction: killed just before its commit, version 1 is left whole (and migrated by the
    next run); either way every row is there, unchanged."""
    out = tmp_path / "out"
    _version_1(out, FIRST)
    ro = RecordStore(Layout(out))  # status: read-only, version 1 as it is
    assert ro.get("probe", "img0000007") is not None
    assert len(list(ro.plan_rows("probe") or ())) == FIRST
    ro.close()
    if killed:
        code = (f"from tests.reliability.kill_at import _install; "
                f"_install('{out}/.emoprep/records.sqlite#1')\n"
                "import sys\nfrom emoprep.io.layout import Layout\n"
                "from emoprep.pipeline.records import RecordStore\n"
                "from pathlib import Path\nRecordStore(Layout(Path(sys.argv[1]))).open_for_run()\n")
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        res = subprocess.run([sys.executable, "-c", code, str(out)], env=env, cwd=REPO,
                             timeout=300)
        assert res.returncode == -signal.SIGKILL
        con = sqlite3.connect(db.db_path(Layout(out)))
        assert con.execute("PRAGMA user_version").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM records").fetchone() == (FIRST,)
        con.close()
    _expect(_rows(out), FIRST)  # migrated by this open for a run
    con = sqlite3.connect(db.db_path(Layout(out)))
    assert con.execute("PRAGMA user_version").fetchone() == (db.DB_VERSION,)
    con.close()
    rec = RecordStore(Layout(out)).get("probe", "img0000007")
    assert rec is not None and rec.summary == {"n_frames": 1, "batch": "b000000"}
