"""Run the emoprep CLI and SIGKILL it at an exact point: the N-th rename onto a matching path.

``EMOPREP_KILL_AT="<glob>#<N>"``: just before the N-th ``os.replace`` onto a path matching the
glob, the process kills itself with SIGKILL (the temporary file is complete, nothing renamed).
Used with ``--workers 0`` so every write of the run happens in this process. Test helper only.
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


if __name__ == "__main__":
    _install(os.environ["EMOPREP_KILL_AT"])
    from emoprep.cli.app import main

    sys.argv = ["emoprep", *sys.argv[1:]]
    main()
