"""The command line's edges (issue #15): terminals, closed pipes and streams,
usage after parsing, demo on any file, outputs that exist, are links or lie
in missing folders, and the temporary files of killed runs."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bygpt_codec import SCHEMES, Codec, __version__
from bygpt_codec._cli_io import _host, remove_stale_temporaries

from .conftest import DATA
from .test_cli import run, script

PROSE = DATA / "ja-prose-sample.txt"


def _pty_run(args: list[str], **kw) -> tuple[int, bytes]:
    """Runs the command with stdout on a pseudo-terminal; returns (status, what the terminal got)."""
    pty = pytest.importorskip("pty")
    main, child = pty.openpty()
    try:
        proc = subprocess.run([*script(), *args], stdout=child, stderr=subprocess.PIPE, timeout=60, **kw)
        os.set_blocking(main, False)
        try:
            shown = os.read(main, 1 << 16)
        except BlockingIOError:
            shown = b""
        return proc.returncode, shown + proc.stderr
    finally:
        os.close(main)
        os.close(child)


def test_binary_output_is_refused_on_a_terminal(tmp_path):
    status, shown = _pty_run(["encode", str(PROSE)])
    assert status == 2
    assert b"refusing to write encoded (binary) data to a terminal; use -o FILE or pipe it" in shown
    assert b"usage: bygpt-codec encode" in shown
    status, shown = _pty_run(["encode", str(PROSE), "-o", "-"])
    assert status == 2
    # Text is fine on a terminal, and so is encoded data sent to a file.
    small = tmp_path / "small.txt"
    small.write_text("吾輩は猫である。\n", encoding="utf-8")
    enc = tmp_path / "small.jpb"
    assert run("encode", small, "-o", enc).returncode == 0
    status, shown = _pty_run(["decode", str(enc)])
    assert status == 0 and "吾輩は猫である。".encode() in shown


def test_closed_pipe_exits_141_quietly(tmp_path):
    src = tmp_path / "p.txt"
    src.write_text(PROSE.read_text(encoding="utf-8") * 300, encoding="utf-8")  # several MB: outlives the pipe
    enc = tmp_path / "p.jpb"
    assert run("encode", src, "-o", enc).returncode == 0
    for args in (["decode", str(enc)], ["stats", str(src)], ["demo", str(src)]):
        proc = subprocess.Popen([*script(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # the reader goes away at once, as `| head` does after its lines
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 141, (args, err)
        assert err == b"", (args, err)


def test_errors_after_parsing_show_the_command_usage(tmp_path):
    out = run("pack", PROSE, "-o", tmp_path / "s", "--shard-index", "5", "--num-shards", "2")
    assert out.returncode == 2
    assert out.stderr.startswith(b"usage: bygpt-codec pack ")
    assert b"bygpt-codec pack: error: need 0 <= --shard-index" in out.stderr
    same = tmp_path / "x.txt"
    same.write_text("x", encoding="utf-8")
    out = run("encode", same, "-o", same)
    assert out.returncode == 2 and out.stderr.startswith(b"usage: bygpt-codec encode ")
    assert b"bygpt-codec encode: error: output" in out.stderr


def test_version_everywhere():
    for args in (["--version"], ["demo", "--version"], ["encode", "--version"], ["decode", "--version"]):
        out = run(*args)
        assert out.returncode == 0 and out.stdout.decode().strip() == f"bygpt-codec {__version__}", args
    assert run("stats", "--version").stdout.decode().strip() == f"bygpt-codec {__version__}"


def test_demo_names_the_file_and_streams_any_file(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café\n".encode("latin-1"))
    out = run("demo", bad)
    assert out.returncode == 1
    assert out.stderr.decode().strip() == f"bygpt-codec: error: {bad}: invalid UTF-8 at byte 3 (line 1): E9"
    # Bigger than one 8 MB chunk: the same figures as the one-shot API.
    text = PROSE.read_text(encoding="utf-8") * 150
    big = tmp_path / "big.txt"
    big.write_text(text, encoding="utf-8")
    out = run("demo", big)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert lines[0] == f"input: {big}, {len(text)} characters, {big.stat().st_size} UTF-8 bytes"
    for scheme, line in zip(SCHEMES, lines[1:], strict=False):
        n = len(Codec(scheme).encode(text))
        assert line == f"{scheme:<8} encoded {n} bytes ({n // 4} blocks); round trip OK"
    assert run("demo", "-").returncode == 2


def test_stdin_and_stdout_are_named_in_errors(tmp_path):
    closed_stdin = subprocess.run(
        [*script(), "encode", "-", "-o", str(tmp_path / "o")], capture_output=True, preexec_fn=lambda: os.close(0)
    )
    assert closed_stdin.returncode == 1 and b"<stdin>: Bad file descriptor" in closed_stdin.stderr
    for args in (["stats", str(PROSE)], ["demo"], ["encode", str(PROSE)]):
        if Path("/dev/full").exists():
            with open("/dev/full", "wb") as full:
                out = subprocess.run([*script(), *args], stdout=full, stderr=subprocess.PIPE, timeout=60)
            assert out.returncode == 1 and b"<stdout>: No space left on device" in out.stderr, (args, out.stderr)
        out = subprocess.run([*script(), *args], capture_output=True, preexec_fn=lambda: os.close(1), timeout=60)
        assert out.returncode == 1 and b"<stdout>: Bad file descriptor" in out.stderr, (args, out.stderr)
        assert b"Traceback" not in out.stderr


def test_an_existing_output_keeps_its_mode(tmp_path):
    out = tmp_path / "secret.jpb"
    out.write_bytes(b"old")
    out.chmod(0o600)
    assert run("encode", PROSE, "-o", out).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_bytes() != b"old"
    out.chmod(0o640)
    assert run("decode", out, "-o", tmp_path / "back.txt").returncode == 0
    assert run("encode", tmp_path / "back.txt", "-o", out).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.jpb"  # a new output gets what the umask allows, as open() gives
    assert run("encode", PROSE, "-o", fresh).returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_a_symlinked_output_is_written_through(tmp_path):
    target = tmp_path / "data" / "real.jpb"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.jpb"
    link.symlink_to(target)
    assert run("encode", PROSE, "-o", link).returncode == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == Codec().encode(PROSE.read_text(encoding="utf-8"))
    assert sorted(p.name for p in target.parent.iterdir()) == ["real.jpb"]  # no temporary file left
    dangling = tmp_path / "dangling.jpb"
    dangling.symlink_to(tmp_path / "made.jpb")
    assert run("encode", PROSE, "-o", dangling).returncode == 0
    assert dangling.is_symlink() and (tmp_path / "made.jpb").stat().st_size > 0


def test_missing_parent_folders_are_created(tmp_path):
    out = tmp_path / "a" / "b" / "p.jpb"
    assert run("encode", PROSE, "-o", out).returncode == 0 and out.stat().st_size > 0


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_are_recognised_and_removed(tmp_path):
    host = _host()
    dead = tmp_path / f".out.jpb.{host}.{_dead_pid()}.abcd1234.tmp"
    live = tmp_path / f".out.jpb.{host}.{os.getpid()}.efgh5678.tmp"
    elsewhere = tmp_path / f".out.jpb.otherhost.{_dead_pid()}.ijkl9012.tmp"
    unrelated = tmp_path / ".other.jpb.tmp"
    for p in (dead, live, elsewhere, unrelated):
        p.write_bytes(b"partial")
    assert run("encode", PROSE, "-o", tmp_path / "out.jpb").returncode == 0
    assert not dead.exists()
    assert live.exists() and elsewhere.exists() and unrelated.exists()
    assert remove_stale_temporaries(str(tmp_path), "out.jpb") == []


def test_a_killed_run_leaves_a_temporary_the_next_run_removes(tmp_path):
    out = tmp_path / "out.jpb"
    proc = subprocess.Popen([*script(), "encode", "-", "-o", str(out), "-q"], stdin=subprocess.PIPE)
    proc.stdin.write("吾輩は猫である。".encode() * 1000)
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdin.close()
    left = [p.name for p in tmp_path.iterdir()]
    assert left == [f".out.jpb.{_host()}.{proc.pid}.{left[0].split('.')[-2]}.tmp"], left
    assert run("encode", PROSE, "-o", out).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpb"]
