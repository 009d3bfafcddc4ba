"""The command line under faults (issue #7): an output that is the input, a
directory or unreadable file as input, and SIGINT / SIGTERM mid-run. Disk full
and invalid input are in tests/test_cli.py."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from .test_cli import run, script


def test_output_equal_to_input_is_refused_before_writing(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("吾輩は猫である。\n", encoding="utf-8")
    before = src.read_bytes()
    link = tmp_path / "link.txt"
    link.symlink_to(src)
    for args in (["encode", src, "-o", src], ["encode", link, "-o", src], ["decode", src, "-o", link]):
        result = run(*args)
        assert result.returncode == 2, result.stderr
        assert b"refusing to overwrite" in result.stderr
        assert src.read_bytes() == before
    # pack: an input named like the output's PREFIX.bin.
    (tmp_path / "docs.bin").write_text('{"text": "a"}\n', encoding="utf-8")
    result = run("pack", tmp_path / "docs.bin", "-o", tmp_path / "docs")
    assert result.returncode == 2 and b"refusing to overwrite" in result.stderr


def test_directory_and_missing_inputs(tmp_path):
    result = run("encode", tmp_path, "-o", tmp_path / "out.jpb")
    assert result.returncode == 1 and b"Is a directory" in result.stderr and str(tmp_path).encode() in result.stderr
    missing = tmp_path / "missing.txt"
    result = run("decode", missing, "-o", tmp_path / "out.txt")
    assert result.returncode == 1 and str(missing).encode() in result.stderr
    assert not (tmp_path / "out.jpb").exists() and not (tmp_path / "out.txt").exists()


def test_input_that_fails_to_read(tmp_path):
    # /proc/self/mem opens but reading at offset 0 fails (EIO), even for root.
    result = run("encode", "/proc/self/mem", "-o", tmp_path / "out.jpb")
    assert result.returncode == 1 and b"/proc/self/mem: Input/output error" in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_input(tmp_path):
    src = tmp_path / "secret.txt"
    src.write_text("x", encoding="utf-8")
    src.chmod(0)
    result = run("encode", src, "-o", tmp_path / "out.jpb")
    assert result.returncode == 1 and b"Permission denied" in result.stderr


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("command", ["encode", "decode"])
def test_signal_mid_run_leaves_no_output(tmp_path, sig, code, command):
    out = tmp_path / "out.bin"
    chunk = ("吾輩は猫である。" * 100_000).encode("utf-8")  # ~2.4 MB of valid input either way
    if command == "decode":
        from bygpt_codec import Codec

        chunk = Codec().encode(chunk.decode())
    proc = subprocess.Popen(
        [*script(), command, "-", "-o", str(out), "--quiet"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(5):  # more than one 8 MB chunk, so the run is under way
            proc.stdin.write(chunk)
        proc.stdin.flush()
        time.sleep(1.0)
        proc.send_signal(sig)
        # Keep feeding so the run reaches its next signal check.
        for _ in range(5):
            proc.stdin.write(chunk)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == code, stderr
    assert b"no output was left" in stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.bin")]  # no temporary file left
