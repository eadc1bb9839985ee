"""The CLI turns off pydantic's plugin scan unless the user set PYDANTIC_DISABLE_PLUGINS."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = "import os, emoprep.cli.app; print(repr(os.environ.get('PYDANTIC_DISABLE_PLUGINS')))"


def _value(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if env_value is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = env_value
    res = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                         timeout=120, check=True)
    return res.stdout.strip()


def test_cli_disables_plugin_scan_by_default() -> None:
    assert _value(None) == "'__all__'"


def test_user_setting_is_kept() -> None:
    assert _value("") == "''"
    assert _value("logfire") == "'logfire'"
