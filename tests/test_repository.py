"""The repository keeps its promises: CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

from bygpt_codec import SCHEMES

ROOT = Path(__file__).resolve().parent.parent


def _readme_block_after(heading: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"## {heading}", 1)[1]
    return re.search(r"```sh\n(.*?)\n```", section, re.S).group(1).strip()


def test_ci_runs_the_readme_test_command():
    command = _readme_block_after("Tests")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in ci.splitlines()


def test_readme_quick_start_names_a_real_command():
    command = _readme_block_after("Quick start")
    assert command == "pip install . && bygpt-codec demo"


def test_quick_start_demo_runs():
    import shutil
    import subprocess
    import sys

    script = shutil.which("bygpt-codec")
    command = [script, "demo"] if script else [sys.executable, "-m", "bygpt_codec", "demo"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("round trip OK") == len(SCHEMES)
    assert "chars/step" in result.stdout
