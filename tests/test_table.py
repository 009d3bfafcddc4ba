"""The committed 2-byte table (rust/core/data) is exactly what the spec derives
from CPython's codecs, and exactly what the extension compiled in."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import bygpt_codec._native as native

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_jp_table.py"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_jp_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compiled_table_equals_rederived_table():
    derived = _generator().derive_table()
    assert len(derived) == 7060
    assert native._code_tables("jpblock")[1] == derived


def test_committed_data_is_what_the_script_writes():
    gen = _generator()
    committed = (ROOT / "rust" / "core" / "data" / "jpblock-table.txt").read_text(encoding="utf-8")
    assert committed == gen.render(gen.derive_table())
