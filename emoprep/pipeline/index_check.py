"""Whether a run's index files need any work at all: one digest of what they were built from.

Rebuilding the indexes reads every record of every indexed stage once per index file (about
1 ms per item of seven units), which made a no-op run over a million items take many minutes.
After each rebuild, :func:`remember` keeps in ``.emoprep/indexes/sources.json``:

- ``sources``: the digest of what the index files and the run summary's rows are made of: the
  records database's generation (:func:`~emoprep.pipeline.records_db.generation`, bumped by SQLite
  on every row written or deleted, by any writer), the manifest, the videos (id, subject, labels)
  in order, the stages, emoprep's version and the index format; only when every unit is up to
  date once the run's work is recorded (a unit that failed or did not run: no digest);
- ``indexes``: each index file's size and mtime as written;
- ``videos``: the run summary's rows (:func:`~emoprep.pipeline.indexes.rebuild_indexes`).

The next run whose plan is all up to date, with the same sources digest and index files of the
same size and mtime, takes the rows kept and rewrites nothing (:func:`kept_summary`). Anything
else (a unit that failed or must run, a record written by a run killed before its indexes, a
label, an index file touched, no counter in the database) rebuilds as before. The file is removed
before a rebuild and written after it (atomically), so a run killed in between leaves none.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from emoprep.io.atomic import atomic_write_text
from emoprep.io.store_config import PACKED_SCHEMA, SCHEMA_VERSION
from emoprep.pipeline.dag import Plan
from emoprep.pipeline.session import Session
from emoprep.types import UnitStatus
from emoprep.versions import __version__

#: bump when what the index files or the summary rows hold changes for the same sources
FORMAT = 1


def sources_file(session: Session) -> Path:
    return session.layout.meta_dir / "indexes" / "sources.json"


def _all_done(session: Session, plan: Plan) -> bool:
    """True when every unit is up to date once the run's work is recorded: each unit the plan
    found not up to date has an ok record of its fingerprint now (the rest were up to date)."""
    for key, unit in plan.units.live.items():
        rec = session.records.get(*key)
        if rec is None or rec.status is not UnitStatus.OK or rec.fingerprint != unit.fingerprint:
            return False
    return True


def sources(session: Session, plan: Plan) -> str:
    """The digest of what the indexes are built from (module doc), after the run's work; "" when
    they must be rebuilt whatever was kept (a unit not done, a database without the counter)."""
    gen = session.records.generation()
    if not gen or not _all_done(session, plan):
        return ""
    h = hashlib.sha256()
    head = [FORMAT, __version__, SCHEMA_VERSION, PACKED_SCHEMA, gen, [d.name for d in plan.stages],
            session.manifest.model_dump(mode="json")]
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for v in session.videos:  # repr: ids, subjects and label values are plain str/int/float
        h.update(f"\0{v.video_id}\t{v.subject}\t{sorted(v.labels.items())!r}".encode())
    return h.hexdigest()


def _stat(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def kept_summary(session: Session, digest: str, files: list[Path]
                 ) -> list[dict[str, Any]] | None:
    """The run summary's rows kept by the last rebuild when ``digest`` and every index file in
    ``files`` are as it left them, else None."""
    if not digest:
        return None
    try:
        kept = json.loads(sources_file(session).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    lay = session.layout
    if (not isinstance(kept, dict) or kept.get("sources") != digest
            or kept.get("indexes") != {lay.rel(f): _stat(f) for f in files}):
        return None
    videos = kept.get("videos")
    return videos if isinstance(videos, list) else None


def forget(session: Session) -> None:
    """Before a rebuild: a run killed during it leaves no digest of the indexes it replaced."""
    sources_file(session).unlink(missing_ok=True)


def remember(session: Session, digest: str, files: list[Path],
             videos: list[dict[str, Any]]) -> None:
    """After a rebuild: the digest, the index files as written and the summary's rows."""
    if not digest:
        return
    lay = session.layout
    atomic_write_text(sources_file(session), json.dumps(
        {"sources": digest, "indexes": {lay.rel(f): _stat(f) for f in files}, "videos": videos},
        separators=(",", ":"), default=str))
