"""In a fresh clone (no ../shared/corpus) the benchmarks run on the samples in
tests/data and say that the figures are not the published ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RUN = """
import importlib.util, pathlib, sys
spec = importlib.util.spec_from_file_location("bench", sys.argv[1])
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
bench.DEFAULT_CORPUS = pathlib.Path(sys.argv[2])  # as in a clone without ../shared
sys.argv = [sys.argv[1], *sys.argv[3:]]
bench.main()
"""


@pytest.mark.parametrize(
    ("script", "args"), [("codec.py", ["--repeat", "1"]), ("cli.py", ["--size-mb", "1", "--repeat", "1"])]
)
def test_benchmark_falls_back_to_the_samples_with_a_note(tmp_path, script, args):
    path = ROOT / "benchmarks" / script
    if not path.exists():
        pytest.skip("benchmarks/ is not next to these tests")
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(path), str(tmp_path / "no-corpus"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "not found; " in proc.stderr and "not the published ones" in proc.stderr
    assert "Traceback" not in proc.stderr
    explicit = subprocess.run(
        [sys.executable, str(path), "--corpus-dir", str(tmp_path / "nowhere")], capture_output=True, text=True
    )
    assert explicit.returncode == 1 and "not found" in explicit.stderr and "Traceback" not in explicit.stderr


def test_per_call_ab_runs_two_interpreters_side_by_side():
    path = ROOT / "benchmarks" / "per_call_ab.py"
    if not path.exists():
        pytest.skip("benchmarks/ is not next to these tests")
    proc = subprocess.run(
        [sys.executable, str(path), "--other", sys.executable, "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[2:]]
    assert {f"{r[0]} {r[1]}" for r in rows} == {
        f"{call} {scheme}"
        for call in ("encode", "encode_batch", "decode", "decode_batch")
        for scheme in ("jpblock", "utf8")
    }
    assert all(float(v) > 0 for r in rows for v in r[2:6])
