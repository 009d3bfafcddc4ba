"""The command line as issue #3 specifies it: encode, decode and stats, run as
the real console script in subprocesses. Packing is in tests/test_cli_pack.py,
bounded memory in tests/test_cli_memory.py."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bygpt_codec import SCHEMES, Codec, DecodeError

from .conftest import DATA

SAMPLES = [DATA / "ja-prose-sample.txt", DATA / "ja-mixed-sample.txt"]


def script() -> list[str]:
    """The installed console script (next to this Python), else the module."""
    found = Path(sys.executable).parent / "bygpt-codec"
    return [str(found)] if found.exists() else [sys.executable, "-m", "bygpt_codec"]


def run(*args: str | Path, stdin: bytes | None = None, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*script(), *map(str, args)], input=stdin, capture_output=True, timeout=300, env=env, **kw)


def test_console_script_is_installed():
    assert shutil.which("bygpt-codec") or (Path(sys.executable).parent / "bygpt-codec").exists()
    out = run("--help")
    assert out.returncode == 0 and b"encode" in out.stdout and b"pack" in out.stdout


@pytest.mark.parametrize("command", ["demo", "encode", "decode", "stats", "pack", "merge"])
def test_every_command_has_help_with_examples(command):
    out = run(command, "--help")
    assert out.returncode == 0
    assert b"examples:" in out.stdout and f"bygpt-codec {command}".encode() in out.stdout


def test_demo_still_works():
    out = run("demo")
    assert out.returncode == 0 and b"round trip OK" in out.stdout


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_encode_equals_one_shot_and_decode_restores_the_file(tmp_path, scheme, sample):
    enc, dec = tmp_path / "x.enc", tmp_path / "x.txt"
    out = run("encode", sample, "-o", enc, "--scheme", scheme)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"" and out.stderr == b""  # nothing but data, no progress off a TTY
    text = sample.read_text(encoding="utf-8")
    assert enc.read_bytes() == Codec(scheme).encode(text)
    assert run("decode", enc, "-o", dec, "--scheme", scheme).returncode == 0
    assert dec.read_bytes() == sample.read_bytes()


def test_special_tokens_wrap_the_file(tmp_path, scheme, prose):
    out = run("encode", "-", "--scheme", scheme, "--add-special-tokens", stdin=prose.encode())
    assert out.returncode == 0
    assert out.stdout == Codec(scheme).encode(prose, add_special_tokens=True)
    back = run("decode", "-", "--scheme", scheme, stdin=out.stdout)
    assert back.stdout.decode() == f"<|bos|>{prose}<|eos|>"
    back = run("decode", "-", "--scheme", scheme, "--skip-special-tokens", stdin=out.stdout)
    assert back.stdout.decode() == prose


def test_stdin_to_stdout_and_empty_inputs(scheme):
    text = "吾輩は猫である。名前はまだ無い。\nabc 😀\n"
    out = run("encode", "-", "--scheme", scheme, stdin=text.encode())
    assert out.returncode == 0 and out.stdout == Codec(scheme).encode(text)
    back = run("decode", "-", "--scheme", scheme, stdin=out.stdout)
    assert back.returncode == 0 and back.stdout == text.encode()
    for command in ("encode", "decode"):
        empty = run(command, "-", "--scheme", scheme, stdin=b"")
        assert empty.returncode == 0 and empty.stdout == b""
    wrapped = run("encode", "-", "--add-special-tokens", stdin=b"")
    assert wrapped.stdout == b"\xfe\x00\x00\x01\xfe\x00\x00\x02"


def _random_text(rng: random.Random, n: int) -> str:
    pool = "あいうえおかきくけこアイウエオ漢字仮名交じり文。、「」abcXYZ 0123\n한국어😀éü\U0001f600"
    return "".join(rng.choice(pool) for _ in range(n))


def test_large_random_text_round_trips_across_chunks(tmp_path, scheme):
    # Over the 8 MB chunk, so chunk boundaries and parallel pieces both occur.
    rng = random.Random(3)
    text = _random_text(rng, 200_000) * 16
    src = tmp_path / "big.txt"
    src.write_text(text, encoding="utf-8")
    assert run("encode", src, "-o", tmp_path / "big.enc", "--scheme", scheme).returncode == 0
    assert (tmp_path / "big.enc").read_bytes() == Codec(scheme).encode(text)
    assert run("decode", tmp_path / "big.enc", "-o", tmp_path / "back.txt", "--scheme", scheme).returncode == 0
    assert (tmp_path / "back.txt").read_bytes() == src.read_bytes()


def test_output_is_the_same_whatever_the_thread_count(tmp_path, prose):
    src = tmp_path / "p.txt"
    src.write_text(prose * 80, encoding="utf-8")  # ~11 MB: parallel pieces
    outs = []
    for threads in ("1", "2", "5"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        dst = tmp_path / f"p{threads}.enc"
        assert run("encode", src, "-o", dst, env=env).returncode == 0
        outs.append(dst.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_surrogateescape_round_trips_any_file(tmp_path, scheme):
    rng = random.Random(7)
    blob = bytes(rng.randrange(256) for _ in range(50_000)) + "日本語\n".encode() + b"\xed\xb2\x80\xe3\x81"
    src = tmp_path / "blob.bin"
    src.write_bytes(blob)
    enc = tmp_path / "blob.enc"
    out = run("encode", src, "-o", enc, "--scheme", scheme, "--errors", "surrogateescape")
    assert out.returncode == 0, out.stderr
    assert enc.read_bytes() == Codec(scheme).encode(blob.decode("utf-8", "surrogateescape"))
    back = run("decode", enc, "--scheme", scheme, "--errors", "surrogateescape")
    assert back.returncode == 0 and back.stdout == blob
    # Without surrogateescape the escaped bytes cannot be written back.
    strict = run("decode", enc, "--scheme", scheme)
    assert strict.returncode == 1 and b"lone surrogate" in strict.stderr and b"surrogateescape" in strict.stderr
    replaced = run("decode", enc, "--scheme", scheme, "--errors", "replace")
    text = blob.decode("utf-8", "surrogateescape")
    one_each = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)  # one U+FFFD per escaped byte
    assert replaced.returncode == 0 and replaced.stdout == one_each.encode()


def test_invalid_utf8_names_file_offset_and_line_and_leaves_no_output(tmp_path):
    good = "一行目\n二行目\n".encode()
    src = tmp_path / "bad.txt"
    src.write_bytes(good * 1000 + b"abc\xffdef\n")
    dst = tmp_path / "out.enc"
    out = run("encode", src, "-o", dst)
    assert out.returncode == 1
    offset = len(good) * 1000 + 3
    assert f"{src}: invalid UTF-8 at byte {offset} (line 2001)".encode() in out.stderr
    assert out.stdout == b""
    assert not dst.exists() and os.listdir(tmp_path) == ["bad.txt"]  # no partial or temporary file


@pytest.mark.parametrize("command", ["encode", "stats"])
def test_invalid_utf8_far_into_a_large_input_names_the_right_line(tmp_path, command):
    # Found in review: beyond the first parallel piece of an 8 MB chunk, newlines
    # of earlier pieces were counted twice (line 72391 reported for 39191).
    # 12 MB: two read chunks, each cut into many pieces.
    line = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。\n".encode()
    data = bytearray(line * (12_000_000 // len(line)))
    for at in (len(data) - 5 * len(line) + 6, 9_000_000 - 9_000_000 % len(line) + 3, 3_999_998):
        bad = bytearray(data)
        bad[at] = 0xFF
        src = tmp_path / "big.txt"
        src.write_bytes(bad)
        out = run(command, src, *(["-o", tmp_path / "out"] if command == "encode" else []))
        with pytest.raises(UnicodeDecodeError) as cpython:
            bytes(bad).decode("utf-8")
        start = cpython.value.start  # where the bad sequence starts
        want_line = bytes(bad[:start]).count(b"\n") + 1
        assert out.returncode == 1
        assert f"invalid UTF-8 at byte {start} (line {want_line})".encode() in out.stderr, out.stderr


def test_a_failed_run_keeps_the_previous_output(tmp_path):
    dst = tmp_path / "out.enc"
    dst.write_bytes(b"old")
    out = run("encode", "-", "-o", dst, stdin=b"ok\n\xc0\x80")
    assert out.returncode == 1 and dst.read_bytes() == b"old"
    assert run("encode", "-", "-o", dst, stdin=b"new").returncode == 0
    assert dst.read_bytes() == Codec().encode("new")
    assert oct(dst.stat().st_mode & 0o777) != oct(0o600)  # a normal file, not mkstemp's 0600


def test_malformed_data_fails_or_is_replaced(tmp_path, scheme, prose):
    good = Codec(scheme).encode(prose)
    for at in range(1001, 2000):  # the first code start off a block boundary
        data = bytearray(good)
        data[at] = 0xFE  # a special block that does not start a block
        try:
            Codec(scheme).decode(bytes(data))
        except DecodeError as e:
            if e.position == at:
                break
    src = tmp_path / "bad.enc"
    src.write_bytes(bytes(data))
    out = run("decode", src, "--scheme", scheme)
    assert out.returncode == 1 and out.stdout == b""
    assert f"{src}: invalid {scheme} data at byte {at}".encode() in out.stderr
    rep = run("decode", src, "--scheme", scheme, "--errors", "replace")
    assert rep.returncode == 0
    assert rep.stdout.decode() == Codec(scheme).decode(bytes(data), errors="replace")


def test_full_disk_fails_cleanly(tmp_path, prose):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    src = tmp_path / "p.txt"
    src.write_text(prose, encoding="utf-8")
    out = run("encode", src, "-o", "/dev/full")
    assert out.returncode == 1 and b"/dev/full: No space left on device" in out.stderr
    with open("/dev/full", "wb") as full:  # stdout on a full disk
        out = subprocess.run([*script(), "encode", str(src)], stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert out.returncode == 1 and b"No space left on device" in out.stderr
    assert b"Traceback" not in out.stderr and b"Exception ignored" not in out.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run("encode").returncode == 2
    assert run("encode", "x", "--scheme", "utf-16").returncode == 2
    assert run("decode", "x", "--errors", "ignore").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("pack", "x.jsonl").returncode == 2  # no -o
    missing = run("encode", tmp_path / "nope.txt")
    assert missing.returncode == 1 and b"nope.txt: No such file or directory" in missing.stderr


def test_broken_pipe_is_quiet(tmp_path, prose):
    src = tmp_path / "p.txt"
    src.write_text(prose * 200, encoding="utf-8")
    enc = run("encode", src)
    proc = subprocess.Popen(
        [*script(), "decode", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader goes away at once
    _, err = proc.communicate(enc.stdout, timeout=60)
    assert b"Traceback" not in err and b"Exception ignored" not in err
    assert proc.returncode == 141  # 128 + SIGPIPE, as a shell reports for `yes | head`


def test_progress_bar_on_a_tty_and_quiet(tmp_path, prose):
    pty = pytest.importorskip("pty")
    src = tmp_path / "p.txt"
    src.write_text(prose * 70, encoding="utf-8")  # > one 8 MB chunk
    main, child = pty.openpty()
    try:
        out = subprocess.run([*script(), "encode", str(src), "-o", str(tmp_path / "o")], stderr=child, timeout=120)
        os.set_blocking(main, False)
        shown = os.read(main, 1 << 16)
        assert out.returncode == 0 and b"MB/s" in shown and b"ETA" in shown
        out = subprocess.run(
            [*script(), "encode", str(src), "-o", str(tmp_path / "o"), "--quiet"], stderr=child, timeout=120
        )
        try:
            shown = os.read(main, 1 << 16)
        except BlockingIOError:
            shown = b""
        assert out.returncode == 0 and b"MB/s" not in shown
    finally:
        os.close(main)
        os.close(child)


def test_stats_table_and_json(tmp_path, prose, mixed):
    files = []
    for name, text in (("prose.txt", prose), ("mixed.txt", mixed)):
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.append(tmp_path / name)
    out = run("stats", *files)
    assert out.returncode == 0
    table = out.stdout.decode()
    for word in ("jpblock", "utf8", "plain", "chars/step", "straddling", "all 2 files"):
        assert word in table
    doc = json.loads(run("stats", "--json", *files).stdout)
    for entry, text in zip(doc["files"], (prose, mixed), strict=True):
        assert entry["input_bytes"] == len(text.encode())
        for scheme in SCHEMES:
            want = Codec(scheme).stats(text)
            got = entry["schemes"][scheme]
            assert (got["chars"], got["bytes"], got["filler"], got["straddling"]) == (
                want.chars,
                want.bytes,
                want.filler,
                want.straddling,
            )
            assert got["chars_per_step"] == pytest.approx(want.chars_per_step)
        assert entry["schemes"]["plain"]["bytes"] == len(text.encode())
    assert doc["total"]["jpblock"]["chars"] == len(prose) + len(mixed)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff")
    out = run("stats", bad)
    assert out.returncode == 1 and b"invalid UTF-8 at byte 3 (line 2)" in out.stderr
    assert run("stats", bad, "--errors", "surrogateescape").returncode == 0
