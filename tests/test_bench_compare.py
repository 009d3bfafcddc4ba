"""Smoke test of the side-by-side benchmark: it runs and writes its files.

It never asserts a speed. It needs the ``bench`` extra (utf8-tokenizer,
transformers, matplotlib) and skips without it. ``--quick`` reads only the
bundled samples in tests/data, so it needs no ../shared corpus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

for module in ("torch", "transformers", "utf8_tokenizer", "matplotlib"):
    pytest.importorskip(module)


def test_quick_compare_runs_and_writes_json_and_png(tmp_path):
    out = tmp_path / "bench"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.compare", "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    png = out / "compare.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    result = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert result["config"]["quick"] is True
    packages = {p["package"] for p in result["peers"]}
    assert packages == {"cpython", "utf8-tokenizer", "transformers", "bygpt-codec"}
    keys = [p["key"] for p in result["peers"]]
    assert [w["corpus"] for w in result["batch"]] == ["ja-prose.txt", "ja-mixed.txt"]
    for workload in [*result["batch"], result["prompt"]]:
        assert all(workload["roundtrip"].values())
        for task in ("encode", "decode"):
            assert [row["key"] for row in workload[task]] == keys
            assert all(row["seconds"] > 0 for row in workload[task])
    assert {r["scheme"] for r in result["density"]["ja-prose.txt"]} >= {"jpblock", "utf8"}
    assert "ja-prose" in proc.stdout and "chars/step" in proc.stdout
