"""A missing optional dependency names the extra that installs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from bygpt_codec._extras import hint, requires


def _run(code: str) -> subprocess.CompletedProcess[str]:
    # A module set to None in sys.modules cannot be imported: as if it were not installed.
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("blocked", "code", "extra"),
    [
        ("transformers", "import bygpt_codec.hf", "hf"),
        ("torch", "import bygpt_codec; bygpt_codec.Codec().encode_batch(['a'], return_tensors='pt')", "model"),
    ],
)
def test_missing_extra_names_the_pip_command(blocked, code, extra):
    result = _run(f"import sys; sys.modules[{blocked!r}] = None\n{code}")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: ") and f'pip install "bygpt-codec[{extra}]"' in last, last
    assert blocked in last


def test_other_missing_modules_are_not_explained():
    error = ModuleNotFoundError("No module named 'nothere'", name="nothere")
    assert hint(error, "x") is error
    with pytest.raises(ModuleNotFoundError) as info, requires("x"):
        import nothere  # noqa: F401
    assert "pip install" not in str(info.value)


def test_the_hint_keeps_the_module_name_and_cause():
    error = ModuleNotFoundError("No module named 'transformers.utils'", name="transformers.utils")
    new = hint(error, "bygpt_codec.hf", "hf")
    assert new.name == "transformers.utils" and new.__cause__ is error
    assert str(new) == 'bygpt_codec.hf needs transformers, which is not installed: pip install "bygpt-codec[hf]"'
