"""Run the emoprep CLI and SIGKILL it at an exact point: the N-th rename onto a matching path,
or the N-th commit of a matching database.

``EMOPREP_KILL_AT="<glob>#<N>"``: just before the N-th ``os.replace`` onto a path matching the
glob, or the N-th commit of the records database (:func:`emoprep.pipeline.records_db.commit`)
when its path matches, counted together, the process kills itself with SIGKILL (the temporary
file is complete, nothing renamed; the transaction is written to nothing durable). For
``.emoprep/records.sqlite`` the first hit is the rename that creates the database, the later ones
its commits. Used with ``--workers 0`` so every write of the run happens in this process. Test
helper only.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import sys
from typing import Any


def _install(spec: str) -> None:
    pattern, _, nth = spec.rpartition("#")
    real, hits = os.replace, [0]

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if fnmatch.fnmatch(os.fspath(dst), pattern):
            hits[0] += 1
            if hits[0] == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst, *args, **kwargs)

    os.replace = replace

    from emoprep.pipeline import records_db

    real_commit = records_db.commit

    def commit(con: Any) -> None:
        path = con.execute("PRAGMA database_list").fetchone()[2]
        if fnmatch.fnmatch(path, pattern):
            hits[0] += 1
            if hits[0] == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)
        real_commit(con)

    records_db.commit = commit


if __name__ == "__main__":
    _install(os.environ["EMOPREP_KILL_AT"])
    from emoprep.cli.app import main

    sys.argv = ["emoprep", *sys.argv[1:]]
    main()
