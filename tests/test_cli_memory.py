"""Bounded memory: the commands stream, so peak RSS stays under 300 MB on an
input bigger than that. Each run is measured in a fresh child process (its
ru_maxrss, via a small wrapper), on a generated file of ~330 MB."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from .test_cli import script

BUDGET_KB = 300 * 1024
SIZE = 330 << 20

WRAPPER = (
    "import resource, subprocess, sys;"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode;"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)"
)


def peak_kb(*args) -> int:
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *script(), *map(str, args)], capture_output=True, text=True, timeout=600
    )
    kb, rc = out.stdout.split()
    assert rc == "0", out.stderr
    return int(kb)


@pytest.fixture(scope="module")
def big(tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("big")
    if shutil.disk_usage(folder).free < 4 * SIZE:
        pytest.skip("not enough free disk for the bounded-memory test")
    prose = (request.config.rootpath / "tests" / "data" / "ja-prose-sample.txt").read_text(encoding="utf-8")
    unit = prose.encode()
    text = folder / "big.txt"
    with open(text, "wb") as f:
        for _ in range(SIZE // len(unit) + 1):
            f.write(unit)
    line = (json.dumps({"text": prose[:2000]}, ensure_ascii=False) + "\n").encode()
    jsonl = folder / "big.jsonl"
    with open(jsonl, "wb") as f:
        block = line * 1000
        for _ in range(SIZE // len(block) + 1):
            f.write(block)
    return folder


def test_encode_decode_stats_pack_stay_under_300_mb(big):
    results = {
        "encode": peak_kb("encode", big / "big.txt", "-o", big / "big.enc"),
        "decode": peak_kb("decode", big / "big.enc", "-o", "/dev/null"),
        "stats": peak_kb("stats", big / "big.txt"),
        "pack": peak_kb("pack", big / "big.jsonl", "-o", big / "shard", "-q"),
    }
    assert (big / "big.enc").stat().st_size > BUDGET_KB * 1024 // 2
    for command, kb in results.items():
        assert kb < BUDGET_KB, f"{command}: peak RSS {kb / 1024:.0f} MB"


def test_demo_streams_too(big):
    kb = peak_kb("demo", big / "big.txt")
    assert kb < BUDGET_KB, f"demo: peak RSS {kb / 1024:.0f} MB"
