"""Smoke test of the encoding experiment (benchmarks/encoding_lm.py --quick):
every scheme and head type trains, is evaluated and sampled, and the JSON,
chart and table come out. About 20-30 s; the figures mean nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")
bygpt_codec = pytest.importorskip("bygpt_codec")

ROOT = Path(__file__).resolve().parents[2]


def test_quick_experiment(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "encoding_lm.py"), "--quick", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "encoding_lm.json").read_text())
    assert (tmp_path / "encoding_lm.png").stat().st_size > 10_000
    configs = {(s["scheme"], s["heads"], s["mode"]) for s in result["summary"]}
    assert configs == {
        (s, h, m) for s in bygpt_codec.SCHEMES for h in ("independent", "chained") for m in ("steps", "time")
    }
    for run in result["runs"]:
        assert 0 < run["bits_per_char"] < 40
        assert run["samples"]["valid"]["invalid_block_rate"] == 0.0  # valid-only decoding
        assert 0 <= run["samples"]["raw"]["invalid_block_rate"] <= 1
        assert run["steps"] == 12 if run["mode"] == "steps" else run["train_seconds"] >= 2.0
    by = {(s["scheme"], s["mode"]): s for s in result["summary"] if s["heads"] == "independent"}
    # The data property the experiment is about: jpblock packs more characters per step.
    assert by[("jpblock", "steps")]["heldout_chars_per_step"] > by[("utf8", "steps")]["heldout_chars_per_step"]
    assert result["table"] in proc.stdout and "| equal steps | jpblock |" in result["table"]
