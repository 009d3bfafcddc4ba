"""The repository keeps its promises: CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bygpt_codec import SCHEMES

ROOT = Path(__file__).resolve().parent.parent


def _readme_blocks_after(heading: str) -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```sh[^\n]*\n(.*?)\n```", section, re.S)]


def _readme_block_after(heading: str) -> str:
    return _readme_blocks_after(heading)[0]


def test_ci_runs_both_readme_test_commands():
    light, full = _readme_blocks_after("Tests")
    assert "model" not in light and "torch" not in light  # the codec alone
    assert "./model" in full and "cargo test" in full
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert light in ci.splitlines() and full in ci.splitlines()


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


def _no_rust_message() -> str:
    backend = (ROOT / "build_backend" / "_bygpt_build.py").read_text(encoding="utf-8")
    return re.search(r'NO_RUST = """\n(.*?)"""', backend, re.S).group(1)


def test_readme_shows_the_no_rust_message_as_it_is():
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    for line in _no_rust_message().splitlines():
        assert f"  {line}" in readme, line


def test_a_source_build_without_cargo_stops_with_the_short_message(tmp_path):
    import subprocess
    import sys

    pytest.importorskip("maturin")
    code = "import _bygpt_build; _bygpt_build.get_requires_for_build_wheel()"
    env = {"PATH": str(tmp_path), "PYTHONPATH": str(ROOT / "build_backend")}  # no cargo anywhere
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stderr == "\n" + _no_rust_message() and out.stdout == ""
