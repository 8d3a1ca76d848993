"""pip, uv and a target virtual environment, isolated from this machine's configuration."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Clients:
    """pip, uv and a target virtual environment, isolated from this machine's config."""

    root: Path
    env: dict[str, str]
    python: Path

    def pip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "pip", "--python", str(self.python), *args]
        return self._run(cmd, check)

    def uv(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([str(uv_binary()), *args], check)

    def run_python(self, code: str) -> str:
        return self._run([str(self.python), "-c", code], True).stdout

    def _run(self, cmd: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=300, cwd=self.root
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{cmd} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result


def uv_binary() -> Path:
    from uv import find_uv_bin  # the uv wheel ships the binary

    return Path(find_uv_bin())
