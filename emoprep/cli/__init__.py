"""The ``emoprep`` command (a thin typer app over :mod:`emoprep.pipeline`).

The command does not load third-party pydantic plugins: finding them scans the entry points of
every installed package, 0.1-0.2 s at each start (benchmarks/startup.py). A plugin is loaded again
when ``PYDANTIC_DISABLE_PLUGINS`` is set (to ``""`` for all of them) before the command starts.
"""

import os

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
