"""Helpers of the transformers tests: how our test classes run transformers'
``TokenizerTesterMixin``, and fresh interpreters for the workflow tests.

The mixin (vendored in ``test_tokenization_common.py``) reads
``tests/fixtures/sample_text.txt`` of transformers' tree and, when
``from_pretrained_id`` is set, loads that id with ``AutoTokenizer`` and saves
it for the tests. Here the fixture is ours (``fixtures/sample_text.txt``) and
the id is a local directory saved by the class, loaded with the class's
``from_pretrained_kwargs`` (``trust_remote_code=True`` for ours): no network,
and the tests that loop over ``tokenizers_list`` run instead of passing
vacuously.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def local_fixtures() -> mock._patch:
    """Points the mixin at our fixtures directory."""
    from . import test_tokenization_common as common

    return mock.patch.object(common, "get_tests_dir", lambda *_: str(HERE))


class LocalSource:
    """Put before ``TokenizerTesterMixin`` in the bases; define ``save_source``."""

    @classmethod
    def save_source(cls, directory: str) -> None:
        raise NotImplementedError

    @classmethod
    def setUpClass(cls) -> None:
        cls._source = tempfile.mkdtemp()
        cls.save_source(cls._source)
        cls.from_pretrained_id = [cls._source]
        with local_fixtures():
            super().setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        shutil.rmtree(cls._source, ignore_errors=True)


def offline_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a fresh interpreter: no network, a private cache for
    transformers' remote-code modules, and this checkout's packages."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=str(tmp_path / "hf-home"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "model"), env.get("PYTHONPATH")]))
    return env


def run_python(code: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Runs ``code`` (or a script, with ``args``) in a fresh interpreter, as a user would; fails on a non-zero exit."""
    command = [sys.executable, *args] if args else [sys.executable, "-c", code]
    result = subprocess.run(command, env=offline_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return result
