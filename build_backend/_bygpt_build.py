"""The codec's PEP 517 build backend: maturin, with one difference.

When ``cargo`` is not on PATH, maturin's own backend downloads and installs a
Rust toolchain into a temporary directory, and without network access that
ends in a long traceback. Here a source build without Rust stops at once with
a short message that names the two ways forward: install Rust, or install the
prebuilt wheel, which needs no compiler. Everything else is maturin's.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

os.environ.setdefault("MATURIN_NO_INSTALL_RUST", "1")

import maturin  # noqa: E402

NO_RUST = """
bygpt-codec: building from source needs Rust, and `cargo` is not on PATH. Either
  * install Rust (https://rustup.rs) and run the same command again, or
  * install the prebuilt wheel, which needs no compiler (CPython 3.11+, Linux x86-64):
      pip install bygpt_codec-*-abi3-*.whl     (scripts/build_wheels.sh writes it to dist/)
"""


def _need_cargo() -> None:
    if not shutil.which("cargo"):
        sys.stderr.write(NO_RUST)
        sys.stderr.flush()
        raise SystemExit(1)


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    _need_cargo()
    return maturin.get_requires_for_build_wheel(config_settings)


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    _need_cargo()
    return maturin.get_requires_for_build_editable(config_settings)


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    _need_cargo()
    return maturin.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    _need_cargo()
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    _need_cargo()
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)


get_requires_for_build_sdist = maturin.get_requires_for_build_sdist
build_sdist = maturin.build_sdist
