"""Docs that run: every ``python`` and ``sh`` code block in README.md and
docs/*.md is executed, in order, once per test run.

Each markdown file gets a scratch folder laid out like a checkout (links to
the repository's ``examples/``, ``benchmarks/``, ``scripts/``, ``tests/``,
``model/`` and ``docs/``) and holding the sample files the examples name
(``book.txt``, ``any.bin``, ``corpus/*.txt`` ...; see :func:`_workspace`),
all made from the bundled data. A file's blocks run in that folder one after
the other, so a later block sees what an earlier one wrote, and nothing is
left in the checkout. Python blocks run in a fresh interpreter each (so each
must import what it uses), shell blocks under ``bash -e``.

Words after the language in a fence's info string mark blocks that are not
run here, each shown as a skip with its reason (documented in the README's
Tests section):

* ``needs-gpu``: runs only where CUDA is available;
* ``needs-network``: downloads or installs from an index;
* ``slow``: takes minutes (a full training run, a fuzzing campaign);
* ``needs-cluster``: needs a Ray cluster and storage its nodes share;
* ``ci-step``: a command .ci/run itself runs (checked: it must appear there).

``pip install`` of this project (``.``, ``".[extras]"``, ``./model``) is not
run again: the environment under test already has it. Output blocks (a fence
with no language, or ``text``) are not run; the Quick start's output is
compared with what ``bygpt-codec demo`` prints.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] if (ROOT / "README.md").exists() else []
LANGUAGES = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "shell": "sh"}
MARKERS = {
    "needs-gpu": "needs a CUDA GPU",
    "needs-network": "downloads from an index",
    "slow": "takes minutes (marked slow)",
    "needs-cluster": "needs a Ray cluster and storage its nodes share",
    "ci-step": ".ci/run runs this command itself",
}
# Modules whose absence skips a Python block (with the extra that installs them):
# the light test environment has the codec alone. CI's full run has them all.
OPTIONAL = {
    "torch": "model",
    "safetensors": "model",
    "transformers": "hf",
    "accelerate": "hf",
    "bygpt_model": "./model",
    "ray": "ray",
    "pyarrow": "ray",
    "datasets": "datasets",
    "megatron": "megatron",
}
TIMEOUT = 600


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    markers: list[str]
    code: str
    index: int = 0  # among the blocks of its file

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


COMMAND = re.compile(r"^(\$ |python3? |pip3? install |bygpt-codec |cargo |maturin |scripts/|bash )")
HIDDEN: list[str] = []  # commands found in output blocks


def parse(path: Path) -> list[Block]:
    """The fenced code blocks of a markdown file whose language is run here."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    k = 0
    while k < len(lines):
        m = re.match(r"^(\s*)(`{3,}|~{3,})\s*(.*)$", lines[k])
        if not m:
            k += 1
            continue
        indent, fence, info = m.groups()
        end = k + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        words = info.split()
        language = LANGUAGES.get(words[0].lower()) if words else None
        body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[k + 1 : end]]
        if language:
            blocks.append(Block(path, k + 1, language, words[1:], "\n".join(body)))
        elif not words or words[0] in ("text", "console", "output"):
            HIDDEN.extend(f"{path.name}:{k + 2 + i}: {line}" for i, line in enumerate(body) if COMMAND.match(line))
        k = end + 1
    for i, b in enumerate(blocks):
        b.index = i
    return blocks


BLOCKS = [b for md in MARKDOWN for b in parse(md)]


def test_every_doc_block_is_collected():
    assert MARKDOWN, "README.md not found next to tests/"
    unknown = [(b.name, m) for b in BLOCKS for m in b.markers if m not in MARKERS]
    assert not unknown, f"unknown block markers (known: {', '.join(MARKERS)}): {unknown}"
    # Commands belong in sh blocks, where they run; an output block would hide them.
    assert not HIDDEN, "commands in output blocks (fence them as ```sh):\n" + "\n".join(HIDDEN)


def _workspace(folder: Path) -> None:
    """A scratch checkout with the sample files the docs' examples name."""
    for name in ("examples", "benchmarks", "scripts", "tests", "model", "docs"):
        if (ROOT / name).exists():
            (folder / name).symlink_to(ROOT / name, target_is_directory=True)
    prose = (DATA / "ja-prose-sample.txt").read_text(encoding="utf-8")
    mixed = (DATA / "ja-mixed-sample.txt").read_text(encoding="utf-8")
    (folder / "book.txt").write_text(prose, encoding="utf-8")
    (folder / "my.txt").write_text(mixed, encoding="utf-8")
    binary = random.Random(15).randbytes(50_000)  # not UTF-8: any file
    (folder / "any.bin").write_bytes(binary)
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + binary)
    (folder / "corpus").mkdir()
    (folder / "corpus" / "prose.txt").write_text(prose, encoding="utf-8")
    (folder / "corpus" / "mixed.txt").write_text(mixed, encoding="utf-8")
    (folder / "ja_wiki").mkdir()
    docs = [line for line in (prose + mixed).splitlines() if line.strip()]
    jsonl = [json.dumps({"id": i, "text": d}, ensure_ascii=False) + "\n" for i, d in enumerate(docs)]
    half = len(jsonl) // 2
    for name, part in (("ja_wiki/part-0.jsonl", jsonl[:half]), ("ja_wiki/part-1.jsonl", jsonl[half:])):
        (folder / name).write_text("".join(part), encoding="utf-8")
    (folder / "big.jsonl").write_text("".join(jsonl), encoding="utf-8")
    (folder / "corpus" / "docs.jsonl").write_text("".join(jsonl), encoding="utf-8")


# In shell blocks: `pip install` of this project is already done; anything else needs the network.
PIP_SHIM = r"""
pip() {
  local a
  for a in "$@"; do
    case "$a" in
      install|-e|--editable|-q|--quiet|-U|--upgrade|.|./model|model|.\[*\]|./model\[*\]) ;;
      *) echo "docs runner: 'pip $*' installs from an index: mark the block needs-network" >&2; return 1 ;;
    esac
  done
  echo "docs runner: not running 'pip $*' (this project is installed already)" >&2
}
"""


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def _run(block: Block, folder: Path) -> subprocess.CompletedProcess[str]:
    if block.language == "python":
        # Padding puts the block's lines at their markdown line numbers in tracebacks.
        command = [sys.executable, "-c", "\n" * block.line + block.code]
    else:
        command = ["bash", "-e", "-c", PIP_SHIM + block.code]
    return subprocess.run(command, cwd=folder, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)


@dataclass
class _Workspace:
    folder: Path
    done: dict[int, str | None] = field(default_factory=dict)  # block index -> failure message


def _untracked() -> set[str] | None:
    """Untracked, not ignored paths in the checkout (None outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    if out.returncode:
        return None
    return {line[3:] for line in out.stdout.splitlines() if line.startswith("??")}


BEFORE: dict[str, set[str] | None] = {}


@pytest.fixture(scope="session")
def workspaces(tmp_path_factory) -> dict[Path, _Workspace]:
    BEFORE["untracked"] = _untracked()
    return {}


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _skip_reason(block: Block) -> str | None:
    marked = [m for m in block.markers if m in MARKERS]
    if marked == ["needs-gpu"] and _cuda():
        return None
    return "; ".join(MARKERS[m] for m in marked) or None


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"{b.name} ({b.language})")
def test_doc_block_runs(block: Block, workspaces, tmp_path_factory):
    reason = _skip_reason(block)
    if reason:
        pytest.skip(f"{block.name}: {reason}")
    ws = workspaces.get(block.path)
    if ws is None:
        folder = tmp_path_factory.mktemp(block.path.stem)
        _workspace(folder)
        ws = workspaces[block.path] = _Workspace(folder)
    # Earlier blocks of the same file first (when this one was picked alone), as a reader would run them.
    for earlier in [b for b in BLOCKS if b.path == block.path and b.index < block.index and not _skip_reason(b)]:
        if earlier.index not in ws.done:
            result = _run(earlier, ws.folder)
            ws.done[earlier.index] = None if result.returncode == 0 else f"{earlier.name} failed"
    failed = [m for i, m in ws.done.items() if i < block.index and m]
    result = _run(block, ws.folder)
    ws.done[block.index] = None if result.returncode == 0 else f"{block.name} failed"
    missing = re.search(r"ModuleNotFoundError: No module named '([\w.]+)'", result.stderr)
    if result.returncode and missing and missing.group(1).partition(".")[0] in OPTIONAL:
        top = missing.group(1).partition(".")[0]
        pytest.skip(f"{block.name}: needs {top} ({OPTIONAL[top]}), not installed here")
    if result.returncode:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        after = f" (after earlier failures: {', '.join(failed)})" if failed else ""
        pytest.fail(f"{block.name} ({block.language}) exited {result.returncode}{after}:\n{tail}", pytrace=False)


def test_ci_steps_are_in_ci():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for block in BLOCKS:
        if "ci-step" in block.markers:
            for line in block.code.splitlines():
                command = line.split("#", 1)[0].strip()
                assert not command or command in ci, f"{block.name}: {command!r} is marked ci-step but .ci/run lacks it"


def test_quick_start_output_is_what_demo_prints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    fences = [k for k, line in enumerate(lines) if line.startswith("```")]
    pairs = zip(fences[::2], fences[1::2], strict=True)
    shown = ["\n".join(lines[a + 1 : b]) + "\n" for a, b in pairs if lines[a] == "```"]
    assert shown, "the Quick start shows no output block"
    script = shutil.which("bygpt-codec", path=str(Path(sys.executable).parent)) or shutil.which("bygpt-codec")
    command = [script, "demo"] if script else [sys.executable, "-m", "bygpt_codec", "demo"]
    printed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    assert shown[0] == printed


def test_docs_leave_nothing_in_the_checkout():
    before, after = BEFORE.get("untracked"), _untracked()
    if before is None or after is None:
        pytest.skip("not a git checkout (or no doc block ran)")
    assert not after - before, f"doc blocks left files in the checkout: {sorted(after - before)}"
