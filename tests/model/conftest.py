"""Shared fixtures for the reference-model tests.

Nothing here imports torch at module level: each test module starts with
``pytest.importorskip("torch")`` so the suite passes where torch is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Make ``bygpt_model`` importable from a plain checkout (it lives in model/).
if str(ROOT / "model") not in sys.path:
    sys.path.insert(0, str(ROOT / "model"))

_SAMPLE = ROOT / "tests" / "data" / "ja-prose-sample.txt"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Run torch single-threaded: the models here are tiny, and on a busy
    2-core machine two spinning OpenMP threads are ~10x slower than one."""
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def ja_lines() -> list[str]:
    """Japanese prose lines from the repository's fixture (a sample of the
    shared manpages-ja corpus)."""
    text = _SAMPLE.read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def codec():
    bygpt_codec = pytest.importorskip("bygpt_codec")
    return bygpt_codec.Codec(scheme="jpblock")


@pytest.fixture()
def tiny_model():
    torch = pytest.importorskip("torch")
    from bygpt_model import ByGPTConfig, ByGPTForCausalLM

    torch.manual_seed(1234)
    return ByGPTForCausalLM(ByGPTConfig.preset("tiny")).eval()
