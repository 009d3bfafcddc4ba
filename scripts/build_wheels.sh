#!/usr/bin/env bash
# Builds what installs without a Rust toolchain, into dist/ (or the folder given):
#   * the codec's abi3 wheel: one wheel for CPython 3.11 and later (Linux x86-64 here);
#   * the codec's sdist (building it needs Rust);
#   * bygpt-model's pure-Python wheel.
# Needs Rust and maturin (pip install ".[dev]"). Prints each file and its size.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
mkdir -p "$out"
maturin build --release --features abi3 --strip --out "$out"
maturin sdist --out "$out"
python -m pip wheel --quiet --no-deps --wheel-dir "$out" ./model
ls -l "$out"
